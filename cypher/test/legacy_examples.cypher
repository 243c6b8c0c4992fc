// Test helper: turns one neuron's Examples node into the shape earlier versions wrote (one
// Example node per example, HAS_EXAMPLE edges), to check that such a knowledge base reads.
// Parameters: $model, $layer, $index, $examples (list of maps: split, idx, pos, tokens,
//   activations: the neuron's examples in order, as n2g_kb.kb.store.unpack_examples reads them).
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_EXAMPLES]->(x:Examples)
CALL (n) {
  UNWIND $examples AS e
  CREATE (n)-[:HAS_EXAMPLE]->(:Example {model: n.model, layer: n.layer, neuron: n.index, split: e.split,
    idx: e.idx, pos: e.pos, tokens: e.tokens, activations: e.activations})
}
DETACH DELETE x
RETURN size($examples) AS converted
