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
// trie_firing_nid index holds (token, fire_rank, nid), so the rows come out of the index
// already in answer order and reading stops after $limit. A neuron's number nid holds its
// model, layer and index: (model number * 1000 + layer) * 10000000 + index, the model
// number being the model's place in the KnowledgeBase node's list `models`, from 1.
OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH coalesce(kb.models, []) AS models
WITH models, [i IN range(0, size(models) - 1) WHERE models[i] = $model][0] + 1 AS number
CALL (number) {
  MATCH (a:TrieNode)
  USING INDEX a:TrieNode(token, fire_rank, nid)
  WHERE a.token = $token AND a.fire_rank IS NOT NULL AND a.nid IS NOT NULL
    AND ($model IS NULL OR a.nid / 10000000000 = number)
    AND ($layer IS NULL OR a.nid / 10000000 % 1000 = $layer)
  WITH a ORDER BY a.token, a.fire_rank, a.nid
  LIMIT coalesce($limit, 1000000000)
  RETURN a
}
CALL (a, models) {
  MATCH (n:Neuron {model: models[a.nid / 10000000000 - 1], layer: a.nid / 10000000 % 1000, index: a.nid % 10000000})
  RETURN n
}
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, a.token AS token,
       -a.fire_rank AS activation, n.f1 AS f1, n.status AS status
ORDER BY activation DESC, model, layer, neuron
