// Test: the stored property keys of each trie node of one neuron.
// Parameters: $model, $layer, $index.
MATCH p = (:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
RETURN length(p) - 1 AS depth, keys(t) AS keys, t.nid AS nid
ORDER BY depth
