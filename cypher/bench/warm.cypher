// Bench: reads every trie node, its properties, its NEXT edges and the entries of the query indexes once,
// so the timed runs find the store in the page cache, as on a server in use (a restart or a bulk build
// leaves the cache empty). Parameters: none.
CALL () {
  MATCH (t:TrieNode)
  OPTIONAL MATCH (t)-[:NEXT]->(c)
  RETURN count(t.token) + count(t.rank) + count(t.pkey) + count(t.end_activation) + count(c) AS nodes
}
CALL () {
  MATCH (t:TrieNode) USING INDEX t:TrieNode(fire, token, rank, nid)
  WHERE t.fire IS NOT NULL AND t.token IS NOT NULL AND t.rank IS NOT NULL AND t.nid IS NOT NULL
  RETURN count(*) AS context_entries
}
CALL () {
  MATCH (t:TrieNode) USING INDEX t:TrieNode(token, fire_rank, nid)
  WHERE t.token IS NOT NULL AND t.fire_rank IS NOT NULL AND t.nid IS NOT NULL
  RETURN count(*) AS firing_entries
}
CALL () {
  MATCH (t:TrieNode) USING INDEX t:TrieNode(pkey, end_activation, nid)
  WHERE t.pkey IS NOT NULL AND t.end_activation IS NOT NULL AND t.nid IS NOT NULL
  RETURN count(*) AS pattern_entries
}
CALL () {
  MATCH (n:Neuron)-[r]->()
  RETURN count(r) AS neuron_edges
}
RETURN nodes, context_entries, firing_entries, pattern_entries, neuron_edges
