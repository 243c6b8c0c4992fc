// Status of every stored neuron of a model layer (used to resume an ingest).
// Parameters: $model, $layer.
MATCH (n:Neuron {model: $model, layer: $layer})
RETURN n.index AS index, n.status AS status
