// One Model node's properties (n_layers, d_mlp, source, ...), or no row.
// Parameters: $name.
MATCH (m:Model {name: $name})
RETURN properties(m) AS props
