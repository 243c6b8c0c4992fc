// Bench: the token most neurons of a model fire on, and the (firing token, context token)
// pair of completing patterns held by the most neurons.
// Parameters: $model.
CALL () {
  MATCH (a:TrieNode)
  WHERE a.fire_rank IS NOT NULL AND a.model = $model
  RETURN a.token AS token, count(*) AS token_neurons
  ORDER BY token_neurons DESC, token
  LIMIT 1
}
CALL () {
  MATCH (b:TrieNode)
  WHERE b.rank IS NOT NULL AND b.model = $model AND b.depth >= 2 AND b.token <> '<IGNORE>'
  WITH b.fire AS fire, b.token AS context, count(DISTINCT [b.layer, b.neuron]) AS n
  RETURN fire, context, n
  ORDER BY n DESC, fire, context
  LIMIT 1
}
RETURN token, token_neurons, fire AS pair_token, context AS pair_context, n AS pair_neurons
