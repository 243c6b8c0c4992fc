// Every pattern-end trie node (those with a pkey), for the in-memory matcher (n2g_kb.kb.matcher).
// Read from the trie_pattern_end index alone (every value is in it).
// Parameters: $model (model name, or null for every model).
MATCH (e:TrieNode)
WHERE e.pkey IS NOT NULL AND e.end_activation IS NOT NULL
  AND e.model IS NOT NULL AND e.layer IS NOT NULL AND e.neuron IS NOT NULL
  AND ($model IS NULL OR e.model = $model)
RETURN e.model AS model, e.layer AS layer, e.neuron AS neuron, e.pkey AS pkey, e.end_activation AS activation
