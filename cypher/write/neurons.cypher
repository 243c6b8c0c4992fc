// Writes a batch of neurons, replacing each one's previous graph, in ONE statement (the
// store runs it in one transaction of at most 8 neurons (two such transactions may run at once), so every neuron lands whole or
// not at all).
// Each Neuron is found with MERGE (a unique-index seek) and everything else hangs off
// it, so no step depends on the planner choosing an index for a MATCH.
// Besides the trie, each neuron carries the values its queries read (n2g_kb.kb.precompute):
// they depend on this neuron alone, so replacing or removing it keeps them exact. The
// KnowledgeBase node's version goes up with every write (the in-memory matcher's cache
// key); its shapes and models only grow (a stale extra entry finds nothing; a model's
// place in the list is its number, part of each of its neurons' numbers).
// Parameters: $model, $run_id (may be null), $shapes (wildcard masks of the batch's patterns),
//   $format (n2g_kb.kb.store.FORMAT, set on a new KnowledgeBase node),
//   $neurons: list of maps with
//   layer, index, max_activation, status, error, n_trie_nodes, metrics (map of floats),
//   method ("paper" | "n2g+"), method_config_json (the N2GConfig as JSON text, may be null),
//   props (map of extra scalar Neuron properties; may be empty),
//   derived (map: firing, context, firing_key, n_groups, group_tokens, group_sizes,
//            context_free, repeat_tokens, repeat_distances),
//   nodes    (each trie node's properties as one map: id, parent, kind, token, depth,
//             activation, importance, end_activation, fire, rank, fire_rank, pkey; nulls
//             and what the readers derive left out; the query adds nid),
//   roots    (positions in nodes of the trie's root), links ([parent position, child position]
//             of every NEXT edge; a child is one token further back in the text),
//   firing   (token, activation), context (tokens; their importances are in
//            derived.context_importance, in the order of derived.context),
//   examples (null, or the properties of the neuron's one Examples node
//             (n2g_kb.kb.store.pack_examples): splits (string[]) and lengths (long[]) per
//             example, then every example's tokens and raw activations one after another as
//             two strings: tokens_json (a JSON array of strings) and activations_f64 (base64
//             of the little-endian float64 values); knowledge bases written before hold a
//             tokens string[] and an activations double[] instead, which still read),
//   kind ('neuron' | 'sae_latent' | 'transcoder'), sae (the SAE's id, null for neurons).
MERGE (m:Model {name: $model})
WITH m
// 0. the model's number: its place in the KnowledgeBase node's list of models, from 1. A
//    model new to the list is added first (under the node's write lock, so two writers of
//    two new models get two numbers); a known one only reads the list.
OPTIONAL MATCH (known:KnowledgeBase {name: 'n2g-kb'})
CALL (known) {
  WITH known WHERE $model IN coalesce(known.models, [])
  RETURN [i IN range(0, size(known.models) - 1) WHERE known.models[i] = $model][0] + 1 AS number
  UNION
  WITH known WHERE NOT $model IN coalesce(known.models, [])
  MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
  ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = [], kb.format = $format
  SET kb.lock = true
  SET kb.models = kb.models + [x IN [$model] WHERE NOT x IN kb.models]
  REMOVE kb.lock
  RETURN [i IN range(0, size(kb.models) - 1) WHERE kb.models[i] = $model][0] + 1 AS number
}
WITH m, number
UNWIND $neurons AS row
MERGE (n:Neuron {model: $model, layer: row.layer, index: row.index})
// the neuron's number, on the Neuron and on each of its trie nodes (the trie indexes end in
// it): (model number * 1000 + layer) * 10000000 + index (n2g_kb.kb.store.neuron_number)
WITH m, n, row, (number * 1000 + row.layer) * 10000000 + row.index AS nid
// 1. the neuron's own properties (writing them first locks the Neuron, so a concurrent
//    writer of the same neuron waits here and then finds the graph this one commits)
SET n.max_activation = row.max_activation,
    n.status = row.status,
    n.error = row.error,
    n.n_trie_nodes = row.n_trie_nodes,
    n.method = row.method,
    n.method_config_json = row.method_config_json,
    n.run_id = $run_id,
    n.nid = nid,
    n.updated_at = datetime()
SET n += row.metrics
SET n.kind = row.kind, n.sae = row.sae
SET n += row.derived
SET n += row.props
WITH m, n, row, nid
// 2. forget the previous graph, reached from the Neuron (Example nodes: written before
//    the Examples node)
CALL (n) {
  MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  DETACH DELETE t
}
CALL (n) {
  MATCH (n)-[:HAS_EXAMPLES|HAS_EXAMPLE]->(e:Examples|Example)
  DETACH DELETE e
}
CALL (n) {
  MATCH (n)-[r:FIRES_ON|CONTEXT]->()
  DELETE r
}
CALL (n) {
  MATCH (:Run)-[r:PRODUCED]->(n)
  DELETE r
}
MERGE (m)-[:HAS_NEURON]->(n)
WITH n, row, nid
// 3. the trie: nodes, then Neuron-[:HAS_TRIE]->root and parent-[:NEXT]->child
CALL (n, row, nid) {
  UNWIND row.nodes AS node
  CREATE (t:TrieNode)
  SET t = node, t.nid = nid
  WITH collect(t) AS created
  CALL (n, row, created) {
    UNWIND row.roots AS i
    WITH created[i] AS root
    CREATE (n)-[:HAS_TRIE]->(root)
  }
  UNWIND row.links AS link
  WITH created[link[0]] AS parent, created[link[1]] AS child
  CREATE (parent)-[:NEXT]->(child)
}
// 4. summary edges to shared Token nodes
CALL (n, row) {
  UNWIND row.firing AS f
  MERGE (tok:Token {text: f.token})
  CREATE (n)-[:FIRES_ON {activation: f.activation}]->(tok)
}
CALL (n, row) {
  UNWIND row.context AS c
  MERGE (tok:Token {text: c})
  CREATE (n)-[:CONTEXT]->(tok)
}
// 5. examples (raw token strings and raw activations), for evaluation from the database
CALL (n, row) {
  WITH row.examples AS e WHERE e IS NOT NULL
  CREATE (n)-[:HAS_EXAMPLES]->(:Examples {model: n.model, layer: n.layer, neuron: n.index, splits: e.splits,
                                         lengths: e.lengths, tokens_json: e.tokens_json,
                                         activations_f64: e.activations_f64})
}
// 6. provenance
CALL (n) {
  OPTIONAL MATCH (r:Run {id: $run_id})
  WITH n, r WHERE r IS NOT NULL
  MERGE (r)-[:PRODUCED]->(n)
}
// 7. the KnowledgeBase node last: its version is the in-memory engines' cache key, and
//    updating it locks it until the commit, so it is done last (writers of other neurons
//    wait on it only while this one commits; updated first, it made writes 1.6x slower)
WITH count(n) AS neurons
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
SET kb.version = kb.version + 1,
    kb.shapes = kb.shapes + [s IN $shapes WHERE NOT s IN kb.shapes]
RETURN neurons
