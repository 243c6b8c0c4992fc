// Test: the stored property keys of each trie node of one neuron.
// Parameters: $model, $layer, $index.
MATCH (:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
RETURN t.depth AS depth, keys(t) AS keys, t.nid AS nid
ORDER BY depth
