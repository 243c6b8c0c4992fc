// One neuron's properties, the rows of its trie (reached from the Neuron) and its examples: `packed` holds the
// arrays of its Examples node (n2g_kb.kb.store.unpack_examples); `examples` the Example
// nodes of a knowledge base written before the Examples node (one per example).
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  WITH t ORDER BY t.id
  RETURN collect(t {.id, .parent, .kind, .token, .depth, .activation, .importance, .end_activation}) AS nodes
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  RETURN x {.splits, .lengths, .tokens, .activations} AS packed
  LIMIT 1
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLE]->(e:Example)
  WITH e ORDER BY e.pos
  RETURN collect(e {.split, .idx, .tokens, .activations}) AS examples
}
RETURN properties(n) AS neuron, nodes, packed, examples
