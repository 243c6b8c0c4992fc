// The ingest Runs of one model, with every property (for export).
// Parameters: $model.
MATCH (r:Run {model: $model})
RETURN r.id AS id, r.status AS status, properties(r) AS props
ORDER BY id
