// Test helper: turns one neuron's Examples node into the shape earlier versions wrote (one
// Example node per example, HAS_EXAMPLE edges), to check that such a knowledge base reads.
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_EXAMPLES]->(x:Examples)
UNWIND range(0, size(x.splits) - 1) AS i
WITH n, x, i, reduce(s = 0, k IN x.lengths[..i] | s + k) AS start
CREATE (n)-[:HAS_EXAMPLE]->(:Example {model: n.model, layer: n.layer, neuron: n.index, split: x.splits[i],
  idx: size([s IN x.splits[..i] WHERE s = x.splits[i]]), pos: i,
  tokens: x.tokens[start..start + x.lengths[i]], activations: x.activations[start..start + x.lengths[i]]})
WITH DISTINCT x, size(x.splits) AS converted
DETACH DELETE x
RETURN converted
