// n2g-kb: one neuron's stored graph (its trie)
//
// Answers: what one neuron's trie looks like: in Neo4j Browser the graph view draws the
// Neuron, its root and every path of NEXT edges (each edge goes one token further back
// in the text); the node column lists each trie node's properties (the rows that
// n2g_kb.n2g.trie.Trie.from_rows reads).
//
// Parameters:
//   $model   model name
//   $layer   layer number
//   $neuron  neuron index
//
// Returns one row per trie node: p (the path from the Neuron to that node), node (id,
//   parent, kind, token, depth, activation, importance, end_activation)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => 'fixture'
// :param layer => 1
// :param neuron => 7
MATCH p = (n:Neuron {model: $model, layer: $layer, index: $neuron})-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
// a node's id is its path from the root where none is stored (n2g_kb.kb.store._slim):
// '|' + each token below the root, '\' and '|' escaped (the root: ''); its parent is the
// node above it; its kind follows from its token (no token: the root, '<IGNORE>': a
// wildcard); a firing-token node's activation is minus its fire_rank
WITH p, t, nodes(p)[-2] AS up, nodes(p)[2..] AS below
WITH p, t, coalesce(t.id, reduce(s = '', x IN below | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) AS id,
     coalesce(t.parent, CASE WHEN size(below) > 0 THEN coalesce(up.id, reduce(s = '', x IN below[..-1] | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) END) AS parent, size(below) AS depth
RETURN p, t {id: id, parent: parent,
    kind: CASE WHEN t.token IS NULL THEN 'root' WHEN t.token = '<IGNORE>' THEN 'ignore' ELSE 'token' END,
    .token, depth: coalesce(t.depth, depth), activation: coalesce(t.activation, -t.fire_rank), .importance, .end_activation} AS node
ORDER BY id
