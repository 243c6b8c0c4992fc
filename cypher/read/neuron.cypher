// One neuron's properties, the rows of its trie (reached from the Neuron; the rows of
// n2g_kb.n2g.trie.Trie.to_rows) and its examples: `packed` holds the
// properties of its Examples node (n2g_kb.kb.store.unpack_examples reads both the two
// strings tokens_json / activations_f64 and the arrays tokens / activations written
// before them); `examples` the Example nodes of a knowledge base written before the
// Examples node (one per example).
// Parameters: $model, $layer, $index.
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})
CALL (n) {
  // a node without a stored id (n2g_kb.kb.store._slim) is named by its path from the root:
  // '|' + each token below the root, '\' and '|' escaped (the root: ''); its parent is the
  // node above it; n2g_kb.kb.store.result_from_record numbers the rows as Trie.to_rows
  // does; kind and a firing-token node's activation are derived too
  OPTIONAL MATCH path = (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  WITH t, nodes(path)[-2] AS up, nodes(path)[2..] AS below
  WITH t, coalesce(t.id, reduce(s = '', x IN below | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) AS id,
       coalesce(t.parent, CASE WHEN size(below) > 0 THEN coalesce(up.id, reduce(s = '', x IN below[..-1] | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) END) AS parent, size(below) AS depth
  ORDER BY id
  RETURN collect(t {id: id, parent: parent,
      kind: CASE WHEN t.token IS NULL THEN 'root' WHEN t.token = '<IGNORE>' THEN 'ignore' ELSE 'token' END,
      .token, depth: coalesce(t.depth, depth), activation: coalesce(t.activation, -t.fire_rank), .importance, .end_activation}) AS nodes
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  RETURN properties(x) AS packed
  LIMIT 1
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLE]->(e:Example)
  WITH e ORDER BY e.pos
  RETURN collect(e {.split, .idx, .tokens, .activations}) AS examples
}
RETURN properties(n) AS neuron, nodes, packed, examples
