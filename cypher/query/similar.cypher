// n2g-kb: similar neurons (overlap of firing and context tokens)
//
// Answers: which pairs of neurons of the same model, in any layers, share their tokens:
// similarity is the Jaccard overlap of their role-tagged token sets, {firing tokens} plus
// {context tokens}, where a token counts as shared only in the same role (pairs that
// share no token in the same role have similarity 0 and are never listed):
//   similarity = (|F_a & F_b| + |C_a & C_b|) / (|F_a | F_b| + |C_a | C_b|)
// (F: FIRES_ON tokens, C: CONTEXT tokens). firing_jaccard and context_jaccard are the two
// overlaps on their own (0 when both sets are empty).
//
// Parameters:
//   $model            model name, or null for every model
//   $layer            layer of the first neuron, or null for every layer
//   $neuron           index of the first neuron, or null for every neuron (all pairs)
//   $threshold        smallest similarity returned, 0..1 (e.g. 0.5)
//   $cross_layer_only true: only pairs in different layers
//   $limit            at most this many rows
// A pair whose two neurons both match the filters is listed once (the one that comes first
// by layer, then index, as the first neuron).
//
// Returns one row per pair, most similar first: model, layer, neuron, other_layer,
//   other_neuron, similarity, firing_jaccard, context_jaccard, shared_firing, shared_context
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param neuron => null
// :param threshold => 0.5
// :param cross_layer_only => false
// :param limit => 50
MATCH (a:Neuron)
WHERE ($model IS NULL OR a.model = $model)
  AND ($layer IS NULL OR a.layer = $layer)
  AND ($neuron IS NULL OR a.index = $neuron)
WITH a, COUNT { (a)-[:FIRES_ON|CONTEXT]->() } AS a_tokens
MATCH (a)-[ra:FIRES_ON|CONTEXT]->(:Token)<-[rb:FIRES_ON|CONTEXT]-(b:Neuron)
WHERE type(ra) = type(rb) AND b.model = a.model AND b <> a
  AND (NOT $cross_layer_only OR b.layer <> a.layer)
  AND (NOT (($layer IS NULL OR b.layer = $layer) AND ($neuron IS NULL OR b.index = $neuron))
       OR [a.layer, a.index] < [b.layer, b.index])
WITH a, a_tokens, b, count(*) AS shared, count(CASE type(ra) WHEN 'FIRES_ON' THEN 1 END) AS firing_shared
// the union holds at least a's tokens, so a pair below this bound cannot reach the threshold
WHERE shared >= $threshold * a_tokens
WITH a, b, shared, firing_shared,
     COUNT { (a)-[:FIRES_ON]->() } + COUNT { (b)-[:FIRES_ON]->() } - firing_shared AS firing_union,
     COUNT { (a)-[:CONTEXT]->() } + COUNT { (b)-[:CONTEXT]->() } - (shared - firing_shared) AS context_union
WITH a, b, shared, firing_shared, firing_union, context_union,
     toFloat(shared) / (firing_union + context_union) AS similarity
WHERE similarity >= $threshold
RETURN a.model AS model, a.layer AS layer, a.index AS neuron, b.layer AS other_layer, b.index AS other_neuron,
       similarity,
       CASE firing_union WHEN 0 THEN 0.0 ELSE toFloat(firing_shared) / firing_union END AS firing_jaccard,
       CASE context_union WHEN 0 THEN 0.0 ELSE toFloat(shared - firing_shared) / context_union END AS context_jaccard,
       COLLECT { MATCH (a)-[:FIRES_ON]->(t:Token)<-[:FIRES_ON]-(b) RETURN t.text ORDER BY t.text } AS shared_firing,
       COLLECT { MATCH (a)-[:CONTEXT]->(t:Token)<-[:CONTEXT]-(b) RETURN t.text ORDER BY t.text } AS shared_context
ORDER BY similarity DESC, model, layer, neuron, other_layer, other_neuron
LIMIT $limit
