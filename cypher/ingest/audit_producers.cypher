// Audit: neurons of a model that name a run but were PRODUCED by not exactly one Run.
// Parameters: $model.
MATCH (n:Neuron {model: $model})
WHERE n.run_id IS NOT NULL
CALL (n) { OPTIONAL MATCH (r:Run)-[:PRODUCED]->(n) RETURN count(r) AS producers }
WITH n, producers WHERE producers <> 1
RETURN n.layer AS layer, n.index AS index, producers
