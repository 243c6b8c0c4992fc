// Test helper: how many graph pieces one neuron has (detects duplicates).
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})
CALL (n) { MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode) RETURN count(t) AS trie_nodes }
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  RETURN count(x) AS example_nodes, sum(size(coalesce(properties(x).splits, []))) AS examples
}
CALL (n) { MATCH (n)-[:FIRES_ON]->(tok:Token) RETURN collect(tok.text) AS fires_on }
CALL (n) { MATCH (n)-[:HAS_TRIE]->(r) RETURN count(r) AS roots }
RETURN count(n) AS neurons, trie_nodes, examples, example_nodes, fires_on, roots
