// Second step of bringing a knowledge base written before neuron numbers to the current
// format (n2g_kb.kb.store.Store.migrate, after admin/migrate_models, then admin/format_set):
// every Neuron and each of its trie nodes get the neuron's number nid = (model number *
// 1000 + layer) * 1000000000 + index, and the trie nodes lose model, layer and neuron (the
// trie indexes end in nid); a Neuron without n_tokens (query/similar's bound) gets it from
// its token lists. One pass over the Neurons by label (a migration, not a library query),
// committed $limit neurons at a time, so an interrupted migration goes on where it stopped.
// Runs in an implicit transaction (CALL ... IN TRANSACTIONS).
// Parameters: $limit (neurons per transaction).
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH kb.models AS names
MATCH (n:Neuron)
WHERE n.nid IS NULL
CALL (n, names) {
  WITH n, (([i IN range(0, size(names) - 1) WHERE names[i] = n.model][0] + 1) * 1000 + n.layer) * 1000000000 + n.index AS nid
  SET n.nid = nid,
      n.n_tokens = coalesce(n.n_tokens, size(coalesce(n.firing, [])) + size(coalesce(n.context, [])))
  WITH n, nid
  CALL (n, nid) {
    MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
    SET t.nid = nid
    REMOVE t.model, t.layer, t.neuron
  }
} IN TRANSACTIONS OF $limit ROWS
RETURN count(n) AS migrated
