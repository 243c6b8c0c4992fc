// n2g-kb: the tries of every neuron that fires on any token of a text
//
// Answers: which neurons can fire anywhere in a text (those with at least one of its
// tokens among their firing tokens) and the rows of their tries, so that the prediction
// at every position can be computed in Python (n2g_kb.query.fire) without running the
// language model. A neuron none of whose firing tokens occurs in the text predicts 0
// everywhere, so it is never needed.
//
// Parameters:
//   $tokens  the text's normalised tokens (any order; repeats are fine)
//   $model   model name, or null for every model
//   $layer   layer number, or null for every layer
//
// Returns one row per candidate neuron: model, layer, neuron, nodes (trie rows: id,
//   parent, kind, token, depth, activation, importance, end_activation)
//
// Neo4j Browser: :params {tokens: ['the', 'capital', 'of', 'paris'], model: null, layer: null}
UNWIND $tokens AS text
WITH DISTINCT text
MATCH (:Token {text: text})<-[:FIRES_ON]-(n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
WITH DISTINCT n
CALL (n) {
  MATCH (x:TrieNode {model: n.model, layer: n.layer, neuron: n.index})
  RETURN collect(x {.id, .parent, .kind, .token, .depth, .activation, .importance, .end_activation}) AS nodes
}
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, nodes
ORDER BY model, layer, neuron
