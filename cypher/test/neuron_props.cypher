// Test only: one Neuron's stored properties.
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})
RETURN properties(n) AS props
