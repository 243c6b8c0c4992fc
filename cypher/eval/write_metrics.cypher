// Writes held-out evaluation figures back onto each Neuron, with when and how they were
// computed. Overwrites the same keys extraction stored (precision, recall, f1, ...).
// Parameters: $model, $settings (JSON text of the evaluation settings),
// $rows (list of maps: layer, index, metrics (map of floats)).
UNWIND $rows AS row
MATCH (n:Neuron {model: $model, layer: row.layer, index: row.index})
SET n += row.metrics, n.evaluated_at = datetime(), n.eval_settings_json = $settings
RETURN count(n) AS written
