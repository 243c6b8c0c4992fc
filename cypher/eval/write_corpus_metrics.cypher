// Writes evaluation figures measured on a new corpus onto each Neuron. The keys arrive
// already prefixed (corpus_f1, corpus_baseline_token_f1, ...) so the held-out figures stay.
// Parameters: $model, $settings (JSON text of the evaluation settings and corpus),
// $rows (list of maps: layer, index, metrics (map of floats)).
UNWIND $rows AS row
MATCH (n:Neuron {model: $model, layer: row.layer, index: row.index})
SET n += row.metrics, n.corpus_evaluated_at = datetime(), n.corpus_eval_settings_json = $settings
RETURN count(n) AS written
