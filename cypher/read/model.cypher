// One model's node: its name and properties (no row when it is not stored).
// Parameters: $model.
MATCH (m:Model {name: $model})
RETURN m.name AS model, properties(m) AS properties
