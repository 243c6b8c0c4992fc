// Step 5: the neuron's examples (tokens as decoded by the model, raw activations), so
// evaluation can run from the database alone.
// Parameters: $model, $examples (list of maps: layer, neuron, split, idx (within
// the split), pos (within the neuron), tokens, activations).
UNWIND $examples AS row
MATCH (n:Neuron {model: $model, layer: row.layer, index: row.neuron})
USING INDEX n:Neuron(model, layer, index)
CREATE (e:Example {model: $model, layer: row.layer, neuron: row.neuron, split: row.split, idx: row.idx, pos: row.pos,
                   tokens: row.tokens, activations: row.activations})
CREATE (n)-[:HAS_EXAMPLE]->(e)
RETURN count(e) AS examples
