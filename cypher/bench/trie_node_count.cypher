// Bench helper: how many trie nodes one model has. Parameters: $model.
MATCH (t:TrieNode) WHERE t.model = $model
RETURN count(t) AS nodes
