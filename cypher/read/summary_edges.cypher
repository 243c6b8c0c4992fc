// The summary edges of one model's neurons: FIRES_ON (activation) and CONTEXT (importance).
// A context token's importance is the highest importance of its neuron's context nodes of
// that token (depth 2 and more: the nodes that carry `fire`), as Trie.context_tokens reads
// it; a neuron whose given importances differ from its trie's holds them on the Neuron
// (context_importance, in the order of its `context` list), and knowledge bases written
// before that hold them on the edge or always on the Neuron (n2g_kb.kb.precompute).
// Parameters: $model.
MATCH (n:Neuron {model: $model})
// the trie's importances, one walk per neuron (none where the Neuron holds its own)
CALL (n) {
  WITH n WHERE n.context_importance IS NULL
  MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*]->(x:TrieNode)
  WHERE x.fire IS NOT NULL AND x.importance IS NOT NULL
  WITH x.token AS token, max(x.importance) AS importance
  RETURN collect([token, importance]) AS from_trie
}
MATCH (n)-[e:FIRES_ON|CONTEXT]->(t:Token)
WITH n, e, t, from_trie,
     CASE type(e) WHEN 'CONTEXT' THEN [i IN range(0, size(coalesce(n.context, [])) - 1) WHERE n.context[i] = t.text][0] END AS at
RETURN n.layer AS layer, n.index AS neuron, type(e) AS role, t.text AS token,
       coalesce(e.activation, e.importance, n.context_importance[at],
                CASE type(e) WHEN 'CONTEXT' THEN [f IN from_trie WHERE f[0] = t.text][0][1] END) AS value
ORDER BY layer, neuron, role, token
