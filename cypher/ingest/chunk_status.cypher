// Status of some neurons of one layer (an ingest checks a chunk before extracting it).
// Parameters: $model, $layer, $indexes (list of neuron indexes).
MATCH (n:Neuron {model: $model, layer: $layer})
WHERE n.index IN $indexes
RETURN n.index AS index, n.status AS status
