// Step 1 of writing neurons: removes the previous graph of each neuron (trie, examples,
// summary edges, run edges), keeping the Neuron node itself. Part of one transaction
// with the other write/neurons_* statements, so a neuron is replaced atomically.
// Parameters: $model, $neurons (list of maps with layer, index).
UNWIND $neurons AS row
CALL (row) {
  MATCH (t:TrieNode {model: $model, layer: row.layer, neuron: row.index})
  DETACH DELETE t
}
CALL (row) {
  MATCH (e:Example {model: $model, layer: row.layer, neuron: row.index})
  DETACH DELETE e
}
CALL (row) {
  MATCH (n:Neuron {model: $model, layer: row.layer, index: row.index})-[r:FIRES_ON|CONTEXT]->()
  DELETE r
}
CALL (row) {
  MATCH (:Run)-[r:PRODUCED]->(n:Neuron {model: $model, layer: row.layer, index: row.index})
  DELETE r
}
RETURN count(*) AS cleared
