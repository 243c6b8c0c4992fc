// Test helper: the stored properties of one neuron's Examples node.
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_EXAMPLES]->(x:Examples)
RETURN properties(x) AS props
