// Marks a run finished (status 'finished', 'interrupted' or 'failed') with its summary.
// Parameters: $id, $status, $props (map: neurons_written, neurons_failed, seconds, timings_json, ...).
MATCH (r:Run {id: $id})
SET r += $props, r.status = $status, r.finished_at = datetime()
