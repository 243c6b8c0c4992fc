// Deletes up to $limit neurons of a model with everything their graphs hang on them
// (trie nodes, examples, summary edges), for `n2gkb ingest --replace`; run it until it
// returns 0. Shared Token nodes stay. Keep in step with the graph model (write/neurons).
// Parameters: $model, $limit.
MATCH (n:Neuron {model: $model})
WITH n LIMIT $limit
CALL (n) {
  MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  DETACH DELETE t
}
CALL (n) {
  MATCH (n)-[:HAS_EXAMPLES|HAS_EXAMPLE]->(e:Examples|Example)
  DETACH DELETE e
}
DETACH DELETE n
RETURN count(*) AS deleted
