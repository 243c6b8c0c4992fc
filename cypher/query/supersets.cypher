// n2g-kb: superset / subset neurons (by firing tokens)
//
// Answers: pairs of neurons of the same model where the superset neuron's set of firing
// tokens (FIRES_ON) strictly contains the subset neuron's: every token the subset neuron
// fires on, the superset neuron fires on too, and on at least one more. The paper finds
// such pairs across layers (a later neuron covering an earlier one, or the reverse).
//
// Parameters:
//   $model             model name, or null for every model
//   $layer             layer of a neuron on either side of the pair, or null
//   $neuron            index of a neuron on either side of the pair, or null
//   $cross_layer_only  true: only pairs in different layers
//   $limit             at most this many rows
//
// Returns one row per pair: model, superset_layer, superset_neuron, subset_layer,
//   subset_neuron, shared_tokens (the subset's firing tokens), extra_tokens (the
//   superset's other firing tokens)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param neuron => null
// :param cross_layer_only => false
// :param limit => 50
MATCH (x:Neuron)
WHERE ($model IS NULL OR x.model = $model)
  AND ($layer IS NULL OR x.layer = $layer)
  AND ($neuron IS NULL OR x.index = $neuron)
MATCH (x)-[:FIRES_ON]->(t:Token)<-[:FIRES_ON]-(y:Neuron)
WHERE y.model = x.model AND y <> x
WITH x, y, count(t) AS shared
WITH x, y, shared, COUNT { (x)-[:FIRES_ON]->(:Token) } AS nx, COUNT { (y)-[:FIRES_ON]->(:Token) } AS ny
WITH CASE
       WHEN shared = ny AND nx > ny THEN [x, y]
       WHEN shared = nx AND ny > nx THEN [y, x]
     END AS pair
WHERE pair IS NOT NULL
WITH DISTINCT pair[0] AS sup, pair[1] AS sub
WHERE NOT $cross_layer_only OR sup.layer <> sub.layer
WITH sup, sub,
     COLLECT { MATCH (sub)-[:FIRES_ON]->(t:Token) RETURN t.text ORDER BY t.text } AS shared_tokens,
     COLLECT { MATCH (sup)-[:FIRES_ON]->(t:Token) WHERE NOT EXISTS { (sub)-[:FIRES_ON]->(t) }
               RETURN t.text ORDER BY t.text } AS extra_tokens
RETURN sup.model AS model, sup.layer AS superset_layer, sup.index AS superset_neuron,
       sub.layer AS subset_layer, sub.index AS subset_neuron, shared_tokens, extra_tokens
ORDER BY model, superset_layer, superset_neuron, subset_layer, subset_neuron
LIMIT $limit
