// Audit: each Run of a model with its counts, how many neurons it produced, and how many of
// those name another run as theirs (0 in a sound knowledge base).
// Parameters: $model.
MATCH (r:Run {model: $model})
CALL (r) {
  OPTIONAL MATCH (r)-[:PRODUCED]->(n:Neuron)
  RETURN count(n) AS produced, count(CASE WHEN n.run_id <> r.id THEN 1 END) AS mislabelled
}
RETURN r.id AS id, r.status AS status, r.neurons_written AS written, r.neurons_dead AS dead,
       r.neurons_failed AS failed, produced, mislabelled
ORDER BY id
