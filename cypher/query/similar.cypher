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

// How: each Neuron holds its sorted token sets (firing, context) and their total size
// (n_tokens; n2g_kb.kb.precompute). A neuron b at least $threshold similar to a shares at
// least `need` = ceil($threshold * |a|) same-role tokens with a (the union holds at least
// a's tokens), so it shares one with a's rarest |a| - need + 1 tokens (the prefix): the
// candidates come from the prefix alone. A candidate that holds `hits` prefix tokens
// shares at most hits + min(|rest of a|, |b| - hits) tokens; only those whose bound can
// still reach $threshold read their token sets.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND [x IN kb.models WHERE $model IS NULL OR x = $model] AS name
CALL (name) {
  WITH name WHERE $layer IS NOT NULL AND $neuron IS NOT NULL
  MATCH (a:Neuron {model: name, layer: $layer, index: $neuron})
  RETURN a
  UNION
  WITH name WHERE $layer IS NOT NULL AND $neuron IS NULL
  MATCH (a:Neuron {model: name, layer: $layer})
  RETURN a
  UNION
  WITH name WHERE $layer IS NULL
  MATCH (:Model {name: name})-[:HAS_NEURON]->(a:Neuron)
  WHERE $neuron IS NULL OR a.index = $neuron
  RETURN a
}
WITH a, coalesce(a.firing, []) AS fa, coalesce(a.context, []) AS ca
WITH a, fa, ca, size(fa) + size(ca) AS na
WHERE na > 0
WITH a, fa, ca, na, CASE WHEN $threshold * na <= 1.0 THEN 1 ELSE toInteger(ceil($threshold * na - 1e-9)) END AS need
CALL (a, fa, ca, na, need) {
  CALL (fa, ca) {
    UNWIND fa AS text
    MATCH (tok:Token {text: text})
    RETURN tok, 'F' AS role, COUNT { (tok)<-[:FIRES_ON]-() } AS degree
    UNION ALL
    UNWIND ca AS text
    MATCH (tok:Token {text: text})
    RETURN tok, 'C' AS role, COUNT { (tok)<-[:CONTEXT]-() } AS degree
  }
  WITH tok, role ORDER BY degree
  WITH collect({tok: tok, role: role}) AS ranked
  WITH ranked[..na - need + 1] AS prefix
  UNWIND prefix AS pick
  WITH pick.tok AS tok, pick.role AS role, na - size(prefix) AS rest
  CALL (tok, role) {
    WITH tok WHERE role = 'F'
    MATCH (tok)<-[:FIRES_ON]-(b)
    RETURN b
    UNION ALL
    WITH tok WHERE role = 'C'
    MATCH (tok)<-[:CONTEXT]-(b)
    RETURN b
  }
  WITH b, rest, count(*) AS hits
  WHERE b <> a
  WITH b, hits, rest, coalesce(b.n_tokens, size(coalesce(b.firing, [])) + size(coalesce(b.context, []))) AS nb
  WITH b, nb, hits + CASE WHEN rest < nb - hits THEN rest ELSE nb - hits END AS most
  WHERE most >= need AND toFloat(most) / (na + nb - most) >= $threshold
  RETURN b
}
WITH a, b, fa, ca
WHERE b.model = a.model
  AND (NOT $cross_layer_only OR b.layer <> a.layer)
  AND (NOT (($layer IS NULL OR b.layer = $layer) AND ($neuron IS NULL OR b.index = $neuron))
       OR [a.layer, a.index] < [b.layer, b.index])
WITH a, b, fa, ca, coalesce(b.firing, []) AS fb, coalesce(b.context, []) AS cb
WITH a, b, [t IN fa WHERE t IN fb] AS shared_firing, [t IN ca WHERE t IN cb] AS shared_context,
     size(fa) + size(fb) AS firing_sizes, size(ca) + size(cb) AS context_sizes
WITH a, b, shared_firing, shared_context,
     firing_sizes - size(shared_firing) AS firing_union, context_sizes - size(shared_context) AS context_union
WITH a, b, shared_firing, shared_context, firing_union, context_union,
     toFloat(size(shared_firing) + size(shared_context)) / (firing_union + context_union) AS similarity
WHERE similarity >= $threshold AND size(shared_firing) + size(shared_context) > 0
RETURN a.model AS model, a.layer AS layer, a.index AS neuron, b.layer AS other_layer, b.index AS other_neuron,
       similarity,
       CASE firing_union WHEN 0 THEN 0.0 ELSE toFloat(size(shared_firing)) / firing_union END AS firing_jaccard,
       CASE context_union WHEN 0 THEN 0.0 ELSE toFloat(size(shared_context)) / context_union END AS context_jaccard,
       shared_firing, shared_context
ORDER BY similarity DESC, model, layer, neuron, other_layer, other_neuron
LIMIT $limit
