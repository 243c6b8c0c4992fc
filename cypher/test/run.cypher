// Test helper: a Run's properties and how many neurons it produced. Parameters: $id.
MATCH (r:Run {id: $id})
OPTIONAL MATCH (r)-[:PRODUCED]->(n:Neuron)
RETURN r.status AS status, r.config_json AS config_json, r.layers AS layers, count(n) AS produced
