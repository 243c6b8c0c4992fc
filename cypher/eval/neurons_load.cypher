// A batch of neurons with their trie rows and examples, one record per neuron, in the
// shape of read/neuron (so n2g_kb.store.result_from_record rebuilds each one).
// Parameters: $model, $keys (list of maps: layer, index).
UNWIND $keys AS key
MATCH (n:Neuron {model: $model, layer: key.layer, index: key.index})
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
