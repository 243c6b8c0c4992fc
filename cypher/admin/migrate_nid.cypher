// Brings a knowledge base written before neuron numbers to the current format, one batch of
// neurons per run (n2g_kb.kb.store.Store.init_schema runs it until it returns 0, then
// admin/format_set): every model gets a place in the KnowledgeBase node's list of models
// (its number, from 1), every Neuron and each of its trie nodes the neuron's number nid =
// (model number * 1000 + layer) * 1000000000 + index, and the trie nodes lose model, layer
// and neuron (the trie indexes end in nid); a Neuron without n_tokens (query/similar's
// bound) gets it from its token lists. It reads Neurons by label: a migration, not a
// library query.
// Parameters: $limit (neurons per batch).
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = []
WITH kb
CALL (kb) {
  MATCH (m:Model)
  WITH kb, collect(m.name) AS names
  SET kb.models = coalesce(kb.models, []) + [x IN names WHERE NOT x IN coalesce(kb.models, [])]
}
WITH kb
MATCH (n:Neuron)
WHERE n.nid IS NULL
WITH kb, n LIMIT $limit
SET kb.models = kb.models + [x IN [n.model] WHERE NOT x IN kb.models]
WITH kb, n
WITH n, (([i IN range(0, size(kb.models) - 1) WHERE kb.models[i] = n.model][0] + 1) * 1000 + n.layer) * 1000000000 + n.index AS nid
SET n.nid = nid,
    n.n_tokens = coalesce(n.n_tokens, size(coalesce(n.firing, [])) + size(coalesce(n.context, [])))
WITH n, nid
CALL (n, nid) {
  MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  SET t.nid = nid
  REMOVE t.model, t.layer, t.neuron
}
RETURN count(n) AS migrated
