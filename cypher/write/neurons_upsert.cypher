// Step 2: creates or updates each Neuron with its summary properties and metrics.
// Parameters: $model, $run_id (may be null), $neurons (list of maps: layer, index,
// max_activation, status, error, n_trie_nodes, metrics (map of floats)).
MERGE (m:Model {name: $model})
WITH m
UNWIND $neurons AS row
MERGE (n:Neuron {model: $model, layer: row.layer, index: row.index})
SET n.max_activation = row.max_activation,
    n.status = row.status,
    n.error = row.error,
    n.n_trie_nodes = row.n_trie_nodes,
    n.run_id = $run_id,
    n.updated_at = datetime()
SET n += row.metrics
MERGE (m)-[:HAS_NEURON]->(n)
WITH n
OPTIONAL MATCH (r:Run {id: $run_id})
FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (r)-[:PRODUCED]->(n))
RETURN count(n) AS neurons
