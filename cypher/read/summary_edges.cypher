// The summary edges of one model's neurons: FIRES_ON (activation) and CONTEXT (importance).
// A context token's importance is the highest importance of its neuron's context nodes of
// that token (depth 2 and more: the nodes that carry `fire`), as Trie.context_tokens reads
// it; a neuron whose given importances differ from its trie's holds them on the Neuron
// (context_importance, in the order of its `context` list), and knowledge bases written
// before that hold them on the edge or always on the Neuron (n2g_kb.kb.precompute).
// Parameters: $model.
MATCH (n:Neuron {model: $model})-[e:FIRES_ON|CONTEXT]->(t:Token)
WITH n, e, t, CASE type(e) WHEN 'CONTEXT' THEN [i IN range(0, size(coalesce(n.context, [])) - 1) WHERE n.context[i] = t.text][0] END AS at
CALL (n, e, t, at) {
  WITH n, e, t, at WHERE type(e) = 'CONTEXT' AND e.importance IS NULL AND n.context_importance[at] IS NULL
  MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*]->(x:TrieNode)
  WHERE x.token = t.text AND x.fire IS NOT NULL
  RETURN max(x.importance) AS from_trie
}
RETURN n.layer AS layer, n.index AS neuron, type(e) AS role, t.text AS token,
       coalesce(e.activation, e.importance, n.context_importance[at], from_trie) AS value
ORDER BY layer, neuron, role, token
