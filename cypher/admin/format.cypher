// The knowledge base's format (null: written before neuron numbers, so it needs
// admin/migrate_nid) and whether it holds any trie node (a count-store read).
// Parameters: none.
OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
RETURN kb.format AS format, COUNT { (:TrieNode) } AS trie_nodes
