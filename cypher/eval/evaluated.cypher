// When and how each selected neuron was last evaluated, with its stored figures: the
// held-out ones (precision, recall, f1, ...) and those on new text (corpus_*).
// Parameters: $model, $layers (list of ints, or null for every layer).
MATCH (n:Neuron {model: $model})
WHERE $layers IS NULL OR n.layer IN $layers
RETURN n.layer AS layer,
       n.index AS index,
       toString(n.evaluated_at) AS evaluated_at,
       n.eval_settings_json AS eval_settings_json,
       toString(n.corpus_evaluated_at) AS corpus_evaluated_at,
       n.corpus_eval_settings_json AS corpus_eval_settings_json,
       properties(n) AS properties
ORDER BY layer, index
