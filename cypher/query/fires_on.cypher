// n2g-kb: neurons that fire on a token
//
// Answers: which neurons have TOKEN among their activating (firing) tokens, i.e. as a
// depth-1 node of their trie, and the highest normalised activation stored for it.
//
// Parameters:
//   $token  the firing token, normalised as N2G stores tokens: title-case words are
//           lower-cased and words lose surrounding spaces (' Paris' -> 'paris',
//           ' PARIS' -> 'PARIS'; see n2g_kb.n2g.trie.normalise_token). The Python helpers
//           and `n2gkb search token` normalise for you; in Neo4j Browser type it normalised.
//   $model  model name, or null for every model
//   $layer  layer number, or null for every layer
//   $limit  at most this many rows (the strongest), or null for all
//
// Returns one row per neuron, strongest first:
//   model, layer, neuron, token, activation, f1, status
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param token => 'paris'
// :param model => null
// :param layer => null
// :param limit => 50

// Each neuron's firing-token trie node carries fire_rank (minus its activation); the
// trie_firing index holds (token, fire_rank, model, layer, neuron), so the rows come out of
// the index already in answer order and reading stops after $limit.
MATCH (a:TrieNode)
WHERE a.token = $token AND a.fire_rank IS NOT NULL
  AND a.model IS NOT NULL AND a.layer IS NOT NULL AND a.neuron IS NOT NULL
  AND ($model IS NULL OR a.model = $model)
  AND ($layer IS NULL OR a.layer = $layer)
WITH a ORDER BY a.token, a.fire_rank, a.model, a.layer, a.neuron
LIMIT coalesce($limit, 1000000000)
MATCH (n:Neuron {model: a.model, layer: a.layer, index: a.neuron})
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, a.token AS token,
       -a.fire_rank AS activation, n.f1 AS f1, n.status AS status
ORDER BY activation DESC, model, layer, neuron
