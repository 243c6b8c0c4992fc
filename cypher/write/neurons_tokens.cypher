// Step 4: summary edges to shared Token nodes: FIRES_ON (activating tokens, with the
// highest normalised activation) and CONTEXT (important context tokens, with importance).
// Parameters: $model, $firing (list of maps: layer, index, token, activation),
// $context (list of maps: layer, index, token, importance).
CALL () {
  UNWIND $firing AS row
  MATCH (n:Neuron {model: $model, layer: row.layer, index: row.index})
  USING INDEX n:Neuron(model, layer, index)
  MERGE (tok:Token {text: row.token})
  CREATE (n)-[:FIRES_ON {activation: row.activation}]->(tok)
  RETURN count(*) AS fires
}
CALL () {
  UNWIND $context AS row
  MATCH (n:Neuron {model: $model, layer: row.layer, index: row.index})
  USING INDEX n:Neuron(model, layer, index)
  MERGE (tok:Token {text: row.token})
  CREATE (n)-[:CONTEXT {importance: row.importance}]->(tok)
  RETURN count(*) AS contexts
}
RETURN fires, contexts
