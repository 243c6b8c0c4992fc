// Test only: turns every neuron into the form the previous version wrote (same graph format
// 3): `depth` on every trie node, `fire` and `rank` on wildcard nodes too, and on each Neuron
// `group_tokens` (all groups' tokens, group after group) instead of `firing_groups`, and
// `context_importance` always. The readers must give the same answers on either form.
// Parameters: none.
CALL () {
  MATCH p = (:Neuron)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  SET t.depth = length(p) - 1
}
CALL () {
  MATCH (:Neuron)-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(a:TrieNode)-[:NEXT*]->(w:TrieNode {token: '<IGNORE>'})
  SET w.fire = a.token
  WITH w
  OPTIONAL MATCH (w)-[:NEXT*0..]->(e:TrieNode)
  WHERE e.end_activation IS NOT NULL
  WITH w, max(e.end_activation) AS best
  SET w.rank = -best
}
CALL () {
  MATCH (n:Neuron)
  WHERE n.firing_groups IS NOT NULL
  SET n.group_tokens = reduce(all = [], g IN range(0, n.n_groups - 1) |
                              all + [i IN range(0, size(n.firing) - 1) WHERE n.firing_groups[i] = g | n.firing[i]])
  REMOVE n.firing_groups
}
CALL () {
  MATCH (n:Neuron)
  WHERE n.context IS NOT NULL AND n.context_importance IS NULL
  CALL (n) {
    UNWIND range(0, size(n.context) - 1) AS i
    OPTIONAL MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*]->(x:TrieNode)
    WHERE x.token = n.context[i] AND x.fire IS NOT NULL
    WITH i, max(x.importance) AS importance
    ORDER BY i
    RETURN collect(importance) AS importances
  }
  SET n.context_importance = importances
}
RETURN 1 AS done
