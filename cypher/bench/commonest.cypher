// Bench: the token most neurons of a model fire on, and the (firing token, context token)
// pair of completing patterns held by the most neurons.
// Parameters: $model.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH [i IN range(0, size(kb.models) - 1) WHERE kb.models[i] = $model][0] + 1 AS number
CALL (number) {
  MATCH (a:TrieNode)
  WHERE a.fire_rank IS NOT NULL AND a.nid / 10000000000 = number
  RETURN a.token AS token, count(*) AS token_neurons
  ORDER BY token_neurons DESC, token
  LIMIT 1
}
CALL (number) {
  MATCH (b:TrieNode)
  WHERE b.rank IS NOT NULL AND b.nid / 10000000000 = number AND b.fire IS NOT NULL AND b.token <> '<IGNORE>'
  WITH b.fire AS fire, b.token AS context, count(DISTINCT b.nid) AS n
  RETURN fire, context, n
  ORDER BY n DESC, fire, context
  LIMIT 1
}
RETURN token, token_neurons, fire AS pair_token, context AS pair_context, n AS pair_neurons
