// Test helper: the neurons of one model built by one extraction method.
// Parameters: $model, $method.
MATCH (n:Neuron {model: $model, method: $method})
RETURN n.layer AS layer, n.index AS index, n.method_config_json AS config_json
ORDER BY layer, index
