// Constraints and indexes of the n2g-kb graph model (Neo4j 5.26, Community edition).
// Idempotent: `n2gkb db init` runs it, and the store runs it before its first write.
// The composite indexes of trie nodes end in the neuron's number nid = (model number * 1000
// + layer) * 10000000 + index (the model number is the model's place in the
// KnowledgeBase node's list `models`, from 1), so the library queries read their answers
// in index order (strongest first), filter by model and layer on the index values alone,
// and stop after $limit rows.
// A neuron's trie nodes and its one Examples node are reached from the Neuron (HAS_TRIE,
// NEXT, HAS_EXAMPLES), so they need no index of their own: the write path locks the Neuron
// before it replaces them, so each neuron has one graph. Indexes and constraints of earlier
// versions that this replaces are dropped (n2g_kb.kb.store.Store.migrate brings an older
// knowledge base to the current format).
// Parameters: none.
CREATE CONSTRAINT model_name IF NOT EXISTS FOR (m:Model) REQUIRE m.name IS UNIQUE;
CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:Run) REQUIRE r.id IS UNIQUE;
CREATE CONSTRAINT kb_name IF NOT EXISTS FOR (k:KnowledgeBase) REQUIRE k.name IS UNIQUE;
CREATE CONSTRAINT neuron_key IF NOT EXISTS FOR (n:Neuron) REQUIRE (n.model, n.layer, n.index) IS UNIQUE;
CREATE CONSTRAINT token_text IF NOT EXISTS FOR (t:Token) REQUIRE t.text IS UNIQUE;
CREATE INDEX trie_firing_nid IF NOT EXISTS FOR (t:TrieNode) ON (t.token, t.fire_rank, t.nid);
CREATE INDEX trie_context_nid IF NOT EXISTS FOR (t:TrieNode) ON (t.fire, t.token, t.rank, t.nid);
CREATE INDEX trie_pattern_end_nid IF NOT EXISTS FOR (t:TrieNode) ON (t.pkey, t.end_activation, t.nid);
CREATE INDEX neuron_layer IF NOT EXISTS FOR (n:Neuron) ON (n.model, n.layer);
CREATE INDEX neuron_f1 IF NOT EXISTS FOR (n:Neuron) ON (n.f1);
CREATE INDEX neuron_firing_key IF NOT EXISTS FOR (n:Neuron) ON (n.firing_key);
CREATE INDEX neuron_size IF NOT EXISTS FOR (n:Neuron) ON (n.model, n.n_tokens);
DROP INDEX trie_node_token IF EXISTS;
DROP INDEX trie_pattern IF EXISTS;
DROP INDEX trie_node_neuron IF EXISTS;
DROP INDEX example_neuron IF EXISTS;
DROP CONSTRAINT example_key IF EXISTS;
DROP CONSTRAINT trie_node_key IF EXISTS;
DROP INDEX trie_node_token_depth IF EXISTS;
DROP INDEX trie_firing IF EXISTS;
DROP INDEX trie_context IF EXISTS;
DROP INDEX trie_pattern_end IF EXISTS;
