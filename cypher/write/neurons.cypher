// Writes a batch of neurons, replacing each one's previous graph, in ONE statement (the
// store runs it in one transaction, so every neuron lands whole or not at all).
// Each Neuron is found with MERGE (a unique-index seek) and everything else hangs off
// it, so no step depends on the planner choosing an index for a MATCH.
// Besides the trie, each neuron carries the values its queries read (n2g_kb.kb.precompute):
// they depend on this neuron alone, so replacing or removing it keeps them exact. The
// KnowledgeBase node's version goes up with every write (the in-memory matcher's cache
// key); its shapes and models only grow (a stale extra entry finds nothing).
// Parameters: $model, $run_id (may be null), $shapes (wildcard masks of the batch's patterns),
//   $neurons: list of maps with
//   layer, index, max_activation, status, error, n_trie_nodes, metrics (map of floats),
//   method ("paper" | "n2g+"), method_config_json (the N2GConfig as JSON text, may be null),
//   props (map of extra scalar Neuron properties; may be empty),
//   derived (map: firing, context, firing_key, n_groups, group_tokens, group_sizes,
//            context_free, repeat_tokens, repeat_distances),
//   nodes    (trie rows: id, parent, parent_pos (position of the parent in nodes; null
//             for the root), kind, token, depth, activation, importance, end_activation,
//             fire, rank, fire_rank, pkey),
//   firing   (token, activation), context (token, importance),
//   examples (split, idx, pos, tokens, activations),
//   kind ('neuron' | 'sae_latent' | 'transcoder'), sae (the SAE's id, null for neurons).
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = []
SET kb.version = kb.version + 1,
    kb.shapes = kb.shapes + [s IN $shapes WHERE NOT s IN kb.shapes],
    kb.models = kb.models + [x IN [$model] WHERE NOT x IN kb.models]
MERGE (m:Model {name: $model})
WITH m
UNWIND $neurons AS row
MERGE (n:Neuron {model: $model, layer: row.layer, index: row.index})
WITH m, n, row
// 1. forget the previous graph
CALL (n) {
  MATCH (t:TrieNode {model: n.model, layer: n.layer, neuron: n.index})
  DETACH DELETE t
}
CALL (n) {
  MATCH (e:Example {model: n.model, layer: n.layer, neuron: n.index})
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
// 2. the neuron's own properties
SET n.max_activation = row.max_activation,
    n.status = row.status,
    n.error = row.error,
    n.n_trie_nodes = row.n_trie_nodes,
    n.method = row.method,
    n.method_config_json = row.method_config_json,
    n.run_id = $run_id,
    n.updated_at = datetime()
SET n += row.metrics
SET n.kind = row.kind, n.sae = row.sae
SET n += row.derived
SET n += row.props
MERGE (m)-[:HAS_NEURON]->(n)
WITH n, row
// 3. the trie: nodes, then Neuron-[:HAS_TRIE]->root and parent-[:NEXT]->child
//    (a child is one token further back in the text), by position in the list
CALL (n, row) {
  UNWIND row.nodes AS node
  CREATE (t:TrieNode {model: n.model, layer: n.layer, neuron: n.index, id: node.id})
  SET t.parent = node.parent, t.kind = node.kind, t.token = node.token, t.depth = node.depth,
      t.activation = node.activation, t.importance = node.importance, t.end_activation = node.end_activation,
      t.fire = node.fire, t.rank = node.rank, t.fire_rank = node.fire_rank, t.pkey = node.pkey
  RETURN collect(t) AS created
}
CALL (n, row, created) {
  UNWIND range(0, size(created) - 1) AS i
  WITH n, created, i, row.nodes[i].parent_pos AS parent
  CALL (n, created, i, parent) {
    WITH n, created[i] AS root WHERE parent IS NULL
    CREATE (n)-[:HAS_TRIE]->(root)
  }
  CALL (created, i, parent) {
    WITH created[parent] AS p, created[i] AS c WHERE parent IS NOT NULL
    CREATE (p)-[:NEXT]->(c)
  }
}
// 4. summary edges to shared Token nodes
CALL (n, row) {
  UNWIND row.firing AS f
  MERGE (tok:Token {text: f.token})
  CREATE (n)-[:FIRES_ON {activation: f.activation}]->(tok)
}
CALL (n, row) {
  UNWIND row.context AS c
  MERGE (tok:Token {text: c.token})
  CREATE (n)-[:CONTEXT {importance: c.importance}]->(tok)
}
// 5. examples (raw token strings and raw activations), for evaluation from the database
CALL (n, row) {
  UNWIND row.examples AS e
  CREATE (x:Example {model: n.model, layer: n.layer, neuron: n.index, split: e.split, idx: e.idx, pos: e.pos,
                     tokens: e.tokens, activations: e.activations})
  CREATE (n)-[:HAS_EXAMPLE]->(x)
}
// 6. provenance
CALL (n) {
  OPTIONAL MATCH (r:Run {id: $run_id})
  WITH n, r WHERE r IS NOT NULL
  MERGE (r)-[:PRODUCED]->(n)
}
RETURN count(n) AS neurons
