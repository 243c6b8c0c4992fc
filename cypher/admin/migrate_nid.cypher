// Second step of bringing a knowledge base of an earlier format to the current one
// (n2g_kb.kb.store.Store.migrate, after admin/migrate_models, then admin/format_set):
// every Neuron whose number nid is missing (written before neuron numbers) or is not
// (model number * 1000 + layer) * 10000000 + index (format 2 held the index in 9 digits)
// gets it, and so does each of its trie nodes, which lose model, layer and neuron (the trie
// indexes end in nid); its pattern-end nodes get their key anew from the path down to them
// (wildcards as '\*', format 2 wrote '<IGNORE>'); a Neuron without n_tokens
// (query/similar's bound) gets it from its token lists. One pass over the Neurons by label
// (a migration, not a library query), committed $limit neurons at a time: a neuron and its
// trie nodes change in one transaction, so an interrupted migration goes on where it
// stopped and finds nothing half done.
// Runs in an implicit transaction (CALL ... IN TRANSACTIONS).
// Parameters: $limit (neurons per transaction).
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH kb.models AS names
MATCH (n:Neuron)
WITH n, (([i IN range(0, size(names) - 1) WHERE names[i] = n.model][0] + 1) * 1000 + n.layer) * 10000000 + n.index AS nid
WHERE n.nid IS NULL OR n.nid <> nid
CALL (n, nid) {
  SET n.nid = nid,
      n.n_tokens = coalesce(n.n_tokens, size(coalesce(n.firing, [])) + size(coalesce(n.context, [])))
  WITH n, nid
  CALL (n, nid) {
    MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
    SET t.nid = nid
    REMOVE t.model, t.layer, t.neuron
  }
  WITH n
  CALL (n) {
    MATCH p = (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(e:TrieNode)
    WHERE e.pkey IS NOT NULL
    WITH e, [x IN tail(nodes(p)) WHERE x.token IS NOT NULL |
             CASE x.token WHEN '<IGNORE>' THEN '\\*' ELSE replace(replace(x.token, '\\', '\\\\'), '|', '\\|') END] AS parts
    SET e.pkey = reduce(key = parts[0], part IN tail(parts) | key + '|' + part)
  }
} IN TRANSACTIONS OF $limit ROWS
RETURN count(n) AS migrated
