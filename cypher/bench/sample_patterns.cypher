// Bench helper: random (firing token, context token, distance) triples that exist in
// stored patterns, and the neuron holding each, to draw query parameters from.
// Parameters: $model, $n.
MATCH (a:TrieNode {depth: 1})-[:NEXT*1..3]->(b:TrieNode {kind: 'token'})
WHERE a.model = $model
WITH a, b, rand() AS r
ORDER BY r
LIMIT $n
RETURN a.token AS token, b.token AS context, b.depth - 1 AS distance, a.layer AS layer, a.neuron AS neuron
