// Every pattern-end trie node (those with a pkey), for the in-memory matcher (n2g_kb.kb.matcher).
// Read from the trie_pattern_end_nid index alone (every value is in it); the neuron's
// number nid holds its model number, layer and index (n2g_kb.kb.store.neuron_number).
// Parameters: $model (model name, or null for every model).
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH kb.models AS names
WITH names, [i IN range(0, size(names) - 1) WHERE names[i] = $model][0] + 1 AS number
MATCH (e:TrieNode)
USING INDEX e:TrieNode(pkey, end_activation, nid)
WHERE e.pkey IS NOT NULL AND e.end_activation IS NOT NULL AND e.nid IS NOT NULL
  AND ($model IS NULL OR e.nid / 10000000000 = number)
RETURN names[e.nid / 10000000000 - 1] AS model, e.nid / 10000000 % 1000 AS layer,
       e.nid % 10000000 AS neuron, e.pkey AS pkey, e.end_activation AS activation
