// Every stored neuron of one model, with the run that produced it (for export).
// Parameters: $model.
MATCH (n:Neuron {model: $model})
RETURN n.layer AS layer, n.index AS neuron, n.run_id AS run_id
ORDER BY layer, neuron
