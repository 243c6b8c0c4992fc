// Audit: pieces of a model's graphs that hang from nothing (a half-written or
// half-deleted neuron would leave some). All counts are 0 in a sound knowledge base.
// It reads every TrieNode of the model by label (an audit, not a library query).
// Parameters: $model.
CALL () {
  MATCH (t:TrieNode {model: $model})
  WHERE NOT EXISTS { ()-[:NEXT]->(t) } AND NOT EXISTS { (:Neuron)-[:HAS_TRIE]->(t) }
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
CALL () {
  MATCH (t:TrieNode {model: $model})
  WHERE NOT EXISTS { MATCH (:Neuron {model: t.model, layer: t.layer, index: t.neuron}) }
  RETURN count(t) AS trie_nodes_without_neuron
}
RETURN orphan_trie_nodes, orphan_examples, trie_nodes_without_neuron
