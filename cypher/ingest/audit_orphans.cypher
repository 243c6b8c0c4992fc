// Audit: pieces of a model's graphs that hang from nothing (a half-written or
// half-deleted neuron would leave some). All counts are 0 in a sound knowledge base.
// It reads every TrieNode of the model by label (an audit, not a library query).
// A trie node's model is in its neuron's number nid (n2g_kb.kb.store.neuron_number).
// Parameters: $model.
OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH [i IN range(0, size(coalesce(kb.models, [])) - 1) WHERE kb.models[i] = $model][0] + 1 AS number
CALL (number) {
  MATCH (t:TrieNode)
  WHERE t.nid / 10000000000 = number
    AND NOT EXISTS { ()-[:NEXT]->(t) } AND NOT EXISTS { (:Neuron)-[:HAS_TRIE]->(t) }
  RETURN count(t) AS orphan_trie_nodes
}
CALL () {
  CALL () {
    MATCH (e:Examples {model: $model})
    WHERE NOT EXISTS { (:Neuron)-[:HAS_EXAMPLES]->(e) }
    RETURN e
    UNION ALL
    MATCH (e:Example {model: $model})
    WHERE NOT EXISTS { (:Neuron)-[:HAS_EXAMPLE]->(e) }
    RETURN e
  }
  RETURN count(e) AS orphan_examples
}
CALL (number) {
  MATCH (t:TrieNode)
  WHERE t.nid / 10000000000 = number
    AND NOT EXISTS { MATCH (:Neuron {model: $model, layer: t.nid / 10000000 % 1000, index: t.nid % 10000000}) }
  RETURN count(t) AS trie_nodes_without_neuron
}
RETURN orphan_trie_nodes, orphan_examples, trie_nodes_without_neuron
