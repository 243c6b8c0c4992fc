// A batch of neurons with their trie rows and examples, one record per neuron, in the
// shape of read/neuron (so n2g_kb.kb.store.result_from_record rebuilds each one): packed
// holds the Examples node's arrays, examples the Example nodes of an older knowledge base.
// Values are read through properties(...) so absent keys give null without warnings.
// Parameters: $model, $keys (list of maps: layer, index).
UNWIND $keys AS key
MATCH (n:Neuron {model: $model, layer: key.layer, index: key.index})
CALL (n) {
  // parent: the node above on the path; kind and a firing-token node's activation are
  // derived as in read/neuron
  OPTIONAL MATCH path = (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT*0..]->(t:TrieNode)
  WITH t, properties(t) AS p, nodes(path)[-2] AS up ORDER BY p.id, p.depth, p.token
  RETURN collect(CASE WHEN p IS NOT NULL THEN
    {id: coalesce(p.id, elementId(t)), parent: CASE WHEN up:TrieNode THEN coalesce(up.id, elementId(up)) END,
     kind: CASE WHEN p.token IS NULL THEN 'root' WHEN p.token = '<IGNORE>' THEN 'ignore' ELSE 'token' END,
     token: p.token, depth: p.depth, activation: coalesce(p.activation, -p.fire_rank), importance: p.importance,
     end_activation: p.end_activation} END) AS nodes
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  WITH properties(x) AS p LIMIT 1
  RETURN CASE WHEN p IS NOT NULL THEN
    {splits: p.splits, lengths: p.lengths, tokens: p.tokens, activations: p.activations} END AS packed
}
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLE]->(e:Example)
  WITH properties(e) AS p ORDER BY p.pos
  RETURN collect(CASE WHEN p IS NOT NULL THEN
    {split: p.split, idx: p.idx, tokens: p.tokens, activations: p.activations} END) AS examples
}
RETURN properties(n) AS neuron, nodes, packed, examples
