// Step 3: creates the trie nodes of each neuron and links them: Neuron-[:HAS_TRIE]->root,
// parent-[:NEXT]->child (a child is one token further back in the text).
// Parameters: $model, $nodes (list of maps: layer, neuron, id, parent, kind, token,
// depth, activation, importance, end_activation).
UNWIND $nodes AS row
CREATE (t:TrieNode {model: $model, layer: row.layer, neuron: row.neuron, id: row.id})
SET t.parent = row.parent, t.kind = row.kind, t.token = row.token, t.depth = row.depth,
    t.activation = row.activation, t.importance = row.importance, t.end_activation = row.end_activation
WITH t, row
CALL (t, row) {
  WITH t, row WHERE row.parent IS NULL
  MATCH (n:Neuron {model: $model, layer: row.layer, index: row.neuron})
  USING INDEX n:Neuron(model, layer, index)
  CREATE (n)-[:HAS_TRIE]->(t)
}
CALL (t, row) {
  WITH t, row WHERE row.parent IS NOT NULL
  MATCH (p:TrieNode {model: $model, layer: row.layer, neuron: row.neuron, id: row.parent})
  USING INDEX p:TrieNode(model, layer, neuron, id)
  CREATE (p)-[:NEXT]->(t)
}
RETURN count(t) AS nodes
