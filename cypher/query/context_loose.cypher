// n2g-kb: neurons that fire on a token and have context tokens (token sets, not path-aware)
//
// Answers, quickly and loosely: which neurons have TOKEN among their firing tokens
// (FIRES_ON) and every token of CONTEXT among their context tokens (CONTEXT), anywhere
// in the neuron. It does not check that they belong to the same pattern, so it can
// return neurons whose pattern for TOKEN never sees the context; query/context is the
// exact, path-aware version. Useful as a cheap first filter.
//
// Parameters:
//   $token    the firing token, normalised (' Paris' -> 'paris'; see n2g_kb.n2g.trie.normalise_token)
//   $context  list of normalised context tokens (order ignored)
//   $model    model name, or null for every model
//   $layer    layer number, or null for every layer
//
// Returns one row per neuron, strongest first: model, layer, neuron, token, activation
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param token => 'paris'
// :param context => ['to']
// :param model => null
// :param layer => null
MATCH (t:Token {text: $token})<-[f:FIRES_ON]-(n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
  AND all(c IN $context WHERE EXISTS { (n)-[:CONTEXT]->(:Token {text: c}) })
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, t.text AS token, f.activation AS activation
ORDER BY activation DESC, model, layer, neuron
