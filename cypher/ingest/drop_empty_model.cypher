// Deletes a Model that holds no neuron, with its Runs, unless another of its runs is
// still running: what a first ingest that failed before writing anything leaves.
// Parameters: $name, $run_id.
MATCH (m:Model {name: $name})
WHERE NOT EXISTS { MATCH (:Neuron {model: $name}) }
OPTIONAL MATCH (r:Run)-[:OF_MODEL]->(m)
WITH m, collect(r) AS runs
WHERE all(r IN runs WHERE r.id = $run_id OR r.status <> 'running')
FOREACH (r IN runs | DETACH DELETE r)
DETACH DELETE m
RETURN count(*) AS deleted
