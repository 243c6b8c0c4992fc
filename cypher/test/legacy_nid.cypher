// Test helper: turns the knowledge base into the format earlier versions wrote (trie nodes
// with model, layer and neuron instead of their neuron's number; no format on the
// KnowledgeBase node; no n_tokens on the Neurons, as before it), to check that such a knowledge base is migrated.
// Parameters: none.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
REMOVE kb.format
WITH kb
MATCH (n:Neuron)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
SET t.model = n.model, t.layer = n.layer, t.neuron = n.index
REMOVE t.nid, n.nid, n.n_tokens
RETURN count(t) AS converted
