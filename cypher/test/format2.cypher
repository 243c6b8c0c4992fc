// Test helper: turns the knowledge base into format 2, which earlier versions wrote: neuron
// numbers with the index in 9 digits ((model number * 1000 + layer) * 1000000000 + index)
// and pattern keys with '<IGNORE>' for a wildcard, to check that such a knowledge base is
// migrated. Parameters: none.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
SET kb.format = 2
WITH kb
MATCH (n:Neuron)
WITH n, n.nid / 10000000 * 1000000000 + n.nid % 10000000 AS old
SET n.nid = old
WITH n, old
MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
SET t.nid = old, t.pkey = replace(t.pkey, '\\*', '<IGNORE>')
RETURN count(t) AS converted
