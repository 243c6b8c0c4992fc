// n2g-kb: the tries of every neuron that fires on any token of a text (the part the text can reach)
//
// Answers: which neurons can fire anywhere in a text (those with at least one of its
// tokens among their firing tokens), with the part of their tries this text can match,
// so that the prediction at every position can be computed in Python (n2g_kb.kb.query.fire
// with engine='python', Trie.predict) without running the language model. The part
// returned holds every trie node whose path from the root uses only tokens of the text or
// wildcards and is no deeper than the text is long; no other node can match anywhere in
// this text, so predictions on it equal predictions on the whole trie. A neuron none of
// whose firing tokens occurs in the text predicts 0 everywhere and is not returned.
//
// Parameters:
//   $tokens  the text's normalised tokens (any order; repeats are fine); the text's length
//            is size($tokens)
//   $model   model name, or null for every model
//   $layer   layer number, or null for every layer
//
// Returns one row per candidate neuron: model, layer, neuron, nodes (trie rows: id,
//   parent, kind, token, depth, activation, importance, end_activation)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param tokens => ['the', 'capital', 'of', 'paris']
// :param model => null
// :param layer => null
UNWIND $tokens AS text
WITH DISTINCT text
MATCH (:Token {text: text})<-[:FIRES_ON]-(n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
WITH DISTINCT n
CALL (n) {
  MATCH (n)-[:HAS_TRIE]->(root:TrieNode)
  MATCH p = (root)-[:NEXT*0..]->(t:TrieNode)
  WHERE all(y IN nodes(p) WHERE y.token IS NULL OR y.token = '<IGNORE>' OR y.token IN $tokens)
    AND length(p) <= size($tokens)
  // id, parent, kind and a firing-token node's activation as in query/neuron_graph
  WITH t, nodes(p)[-2] AS up, nodes(p)[1..] AS below
  WITH t, coalesce(t.id, reduce(s = '', x IN below | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) AS id,
       coalesce(t.parent, CASE WHEN size(below) > 0 THEN coalesce(up.id, reduce(s = '', x IN below[..-1] | s + '|' + replace(replace(x.token, '\\', '\\\\'), '|', '\\|'))) END) AS parent, size(below) AS depth
  ORDER BY id
  RETURN collect(t {id: id, parent: parent,
      kind: CASE WHEN t.token IS NULL THEN 'root' WHEN t.token = '<IGNORE>' THEN 'ignore' ELSE 'token' END,
      .token, depth: coalesce(t.depth, depth), activation: coalesce(t.activation, -t.fire_rank), .importance, .end_activation}) AS nodes
}
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, nodes
ORDER BY model, layer, neuron
