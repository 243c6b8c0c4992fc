// One ingest Run: its properties and how many neurons it produced.
// Parameters: $id.
MATCH (r:Run {id: $id})
OPTIONAL MATCH (r)-[:PRODUCED]->(n:Neuron)
RETURN properties(r) AS run, count(n) AS produced
