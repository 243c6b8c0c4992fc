// The neurons a Run produced (over all its attempts), by status: the Run's counts.
// Parameters: $id.
MATCH (:Run {id: $id})-[:PRODUCED]->(n:Neuron)
RETURN n.status AS status, count(n) AS neurons
