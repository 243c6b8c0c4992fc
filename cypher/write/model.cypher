// Creates or updates a Model node.
// Parameters: $name, $props (map: hook, n_layers, d_mlp, architecture, ...).
MERGE (m:Model {name: $name})
SET m += $props
