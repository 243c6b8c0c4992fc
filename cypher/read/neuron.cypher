// One neuron's properties, the rows of its trie and its examples.
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})
CALL (n) {
  OPTIONAL MATCH (t:TrieNode {model: n.model, layer: n.layer, neuron: n.index})
  WITH t ORDER BY t.id
  RETURN collect(t {.id, .parent, .kind, .token, .depth, .activation, .importance, .end_activation}) AS nodes
}
CALL (n) {
  OPTIONAL MATCH (e:Example {model: n.model, layer: n.layer, neuron: n.index})
  WITH e ORDER BY e.pos
  RETURN collect(e {.split, .idx, .tokens, .activations}) AS examples
}
RETURN properties(n) AS neuron, nodes, examples
