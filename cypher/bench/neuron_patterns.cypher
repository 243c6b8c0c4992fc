// Bench: context tokens (and their distance) of completing patterns of chosen neurons, in a fixed order.
// Parameters: $model, $keys (list of [layer, index]).
UNWIND $keys AS key
MATCH (n:Neuron {model: $model, layer: key[0], index: key[1]})-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(a:TrieNode)
MATCH p = (a)-[:NEXT*1..3]->(b:TrieNode)
WHERE b.rank IS NOT NULL AND b.token <> '<IGNORE>'
RETURN a.token AS token, b.token AS context, length(p) AS distance, n.layer AS layer, n.index AS neuron
ORDER BY layer, neuron, token, context, distance
