// When and how each selected neuron was last evaluated, with its stored figures: the
// held-out ones (precision, recall, f1, ...) and those on new text (corpus_*).
// Parameters: $model, $layers (list of ints, or null for every layer).
MATCH (n:Neuron {model: $model})
WHERE $layers IS NULL OR n.layer IN $layers
WITH n, properties(n) AS p
RETURN n.layer AS layer,
       n.index AS index,
       toString(p.evaluated_at) AS evaluated_at,
       p.eval_settings_json AS eval_settings_json,
       toString(p.corpus_evaluated_at) AS corpus_evaluated_at,
       p.corpus_eval_settings_json AS corpus_eval_settings_json,
       p AS properties
ORDER BY layer, index
