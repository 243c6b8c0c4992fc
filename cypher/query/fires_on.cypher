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
//
// Returns one row per neuron, strongest first:
//   model, layer, neuron, token, activation, f1, status
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param token => 'paris'
// :param model => null
// :param layer => null
MATCH (t:Token {text: $token})<-[f:FIRES_ON]-(n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, t.text AS token,
       f.activation AS activation, n.f1 AS f1, n.status AS status
ORDER BY activation DESC, model, layer, neuron
