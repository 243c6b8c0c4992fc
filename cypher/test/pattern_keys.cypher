// Test: every trie node's neuron number and pattern key. Parameters: none.
MATCH (t:TrieNode)
RETURN elementId(t) AS id, t.nid AS nid, t.pkey AS pkey
ORDER BY id
