// A batch of neurons with their trie rows and examples, one record per neuron, in the
// shape of read/neuron (so n2g_kb.kb.store.result_from_record rebuilds each one): packed
// holds the Examples node's properties (n2g_kb.kb.store.unpack_examples reads its current
// strings and its earlier arrays), examples the Example nodes of an older knowledge base.
// Values are read through properties(...) so absent keys give null without warnings.
// Parameters: $model, $keys (list of maps: layer, index).
UNWIND $keys AS key
MATCH (n:Neuron {model: $model, layer: key.layer, index: key.index})
CALL (n) {
  // id, parent, kind and a firing-token node's activation as in read/neuron
  OPTIONAL MATCH path = (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  WITH t, properties(t) AS p, properties(nodes(path)[-2]) AS up, nodes(path)[2..] AS below
  WITH t, p, coalesce(p.id, reduce(s = '', x IN below | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) AS id,
       coalesce(p.parent, CASE WHEN size(below) > 0 THEN coalesce(up.id, reduce(s = '', x IN below[..-1] | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) END) AS parent, size(below) AS depth
  ORDER BY id
  RETURN collect(CASE WHEN p IS NOT NULL THEN
    {id: id, parent: parent,
     kind: CASE WHEN p.token IS NULL THEN 'root' WHEN p.token = '<IGNORE>' THEN 'ignore' ELSE 'token' END,
     token: p.token, depth: coalesce(p.depth, depth), activation: coalesce(p.activation, -p.fire_rank), importance: p.importance,
     end_activation: p.end_activation} END) AS nodes
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  RETURN properties(x) AS packed
  LIMIT 1
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLE]->(e:Example)
  WITH properties(e) AS p ORDER BY p.pos
  RETURN collect(CASE WHEN p IS NOT NULL THEN
    {split: p.split, idx: p.idx, tokens: p.tokens, activations: p.activations} END) AS examples
}
RETURN properties(n) AS neuron, nodes, packed, examples
