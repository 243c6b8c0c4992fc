// Bench: context tokens (and their distance) of completing patterns of chosen neurons, in a fixed order.
// Parameters: $model, $keys (list of [layer, index]).
UNWIND $keys AS key
MATCH (a:TrieNode {model: $model, layer: key[0], neuron: key[1], depth: 1})
MATCH (a)-[:NEXT*1..3]->(b:TrieNode {kind: 'token'})
WHERE b.rank IS NOT NULL
RETURN a.token AS token, b.token AS context, b.depth - 1 AS distance, a.layer AS layer, a.neuron AS neuron
ORDER BY layer, neuron, token, context, distance
