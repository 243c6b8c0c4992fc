// Binds a model name on the first ingest: creates the Model with its identity (source,
// n_layers, d_mlp, ...) when the name is new, and returns what the Model holds, so the
// caller can refuse another model under the same name (n2g_kb.kb.models.bind_model).
// The uniqueness constraint on Model.name makes two first ingests take turns.
// Parameters: $name, $props (map), $run_id (may be null).
MERGE (m:Model {name: $name})
ON CREATE SET m += $props, m.bound_by = $run_id
RETURN properties(m) AS model
