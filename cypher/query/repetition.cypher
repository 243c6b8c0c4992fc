// n2g-kb: in-context / repetition candidates (a token that is both firing and context)
//
// Answers: which neurons fire on a token that they also use as context, as in-context
// learning and repeated-token neurons do ("Smith ... Smith"). same_pattern is true when
// one complete pattern has the token both as its firing token and as a context token
// (path-aware: a depth-1 node of the token with a token node of the same text below it
// that can complete); false when the token is firing in one pattern and context in
// another of the same neuron only.
//
// Parameters:
//   $model         model name, or null for every model
//   $layer         layer number, or null for every layer
//   $same_pattern  true: only same-pattern repetition; false: neuron-level too
//   $limit         at most this many rows
//
// Returns one row per (neuron, token), same-pattern ones first: model, layer, neuron,
//   token, activation (of the firing token), same_pattern, distance (smallest number of
//   positions between the firing token and its repeat in one pattern, or null)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param same_pattern => false
// :param limit => 50

// computed when the neuron is written (n2g_kb.kb.precompute): repeat_tokens (firing and
// context tokens alike) and repeat_distances (-1 where no one pattern holds both)
// the neurons in scope: every model (listed on the KnowledgeBase node) or $model; one
// layer through the (model, layer) index, or every layer through the Model's HAS_NEURON edges
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND [x IN kb.models WHERE $model IS NULL OR x = $model] AS name
CALL (name) {
  MATCH (n:Neuron {model: name, layer: $layer})
  RETURN n
  UNION
  WITH name WHERE $layer IS NULL
  MATCH (:Model {name: name})-[:HAS_NEURON]->(n:Neuron)
  RETURN n
}
WITH n WHERE size(n.repeat_tokens) > 0
UNWIND range(0, size(n.repeat_tokens) - 1) AS i
WITH n, n.repeat_tokens[i] AS token, CASE WHEN n.repeat_distances[i] < 0 THEN null ELSE n.repeat_distances[i] END AS distance
WHERE NOT $same_pattern OR distance IS NOT NULL
MATCH (n)-[f:FIRES_ON]->(:Token {text: token})
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, token, f.activation AS activation,
       distance IS NOT NULL AS same_pattern, distance
ORDER BY same_pattern DESC, activation DESC, model, layer, neuron, token
LIMIT $limit
