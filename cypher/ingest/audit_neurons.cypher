// Audit of one model's stored graphs: per neuron, its status, how many trie nodes it
// claims and has, its roots and examples (one graph per neuron means roots = 1 for a
// neuron with a trie and trie_nodes = n_trie_nodes; example_nodes: its Examples nodes, at
// most 1; examples also counts the Example nodes of an older knowledge base).
// Used by the ingest tests and bench.
// Parameters: $model.
MATCH (n:Neuron {model: $model})
CALL (n) { OPTIONAL MATCH (n)-[:HAS_TRIE]->(r:TrieNode) RETURN count(r) AS roots }
CALL (n) { OPTIONAL MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode) RETURN count(t) AS trie_nodes }
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  RETURN count(x) AS example_nodes, sum(size(coalesce(properties(x).splits, []))) AS packed
}
CALL (n) { OPTIONAL MATCH (n)-[:HAS_EXAMPLE]->(e:Example) RETURN count(e) AS legacy }
CALL (n) { OPTIONAL MATCH (:Model {name: n.model})-[h:HAS_NEURON]->(n) RETURN count(h) AS model_edges }
RETURN n.layer AS layer, n.index AS index, n.status AS status, n.n_trie_nodes AS n_trie_nodes,
       roots, trie_nodes, packed + legacy AS examples, example_nodes, model_edges, n.run_id AS run_id
ORDER BY layer, index
