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
// `n2gkb search similar` and n2g_kb.kb.query.similar answer the same question from an
// in-memory index of the stored token sets by default (the same rows, in a few ms); this
// file is the question in Cypher, for Neo4j Browser.
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
// n_tokens (n2g_kb.kb.precompute). A neuron b at least $threshold similar to a shares at
// least `need` = ceil($threshold * |a|) same-role tokens with a (the union holds at least
// a's tokens), so it shares one with a's rarest |a| - need + 1 tokens (the prefix, rarest
// by the tokens' degrees): the candidates come from the prefix alone, each with `hits`,
// how many prefix tokens it holds. b then shares at most
// most = hits + min(rest, |b| - hits) tokens (rest: a's other, commonest tokens), and only
// a candidate with most / (|a| + |b| - most) >= $threshold reads its token sets, to count
// which of a's other tokens it holds. Reading |b| costs a node lookup per candidate, and
// most candidates hold one or two prefix tokens: such a candidate can pass only when
// |b| <= small_max (the bound above with hits = 2, plus one for rounding), so the neurons
// that small are read once from the (model, n_tokens) index and any other candidate needs
// hits > 2 before |b| is read. Each test is a bound, so dropping candidates early never
// changes the rows.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND [x IN kb.models WHERE $model IS NULL OR x = $model] AS name
CALL (name) {
  // one branch has a row (an UNWIND of [] has none, so the other seeks never run)
  UNWIND CASE WHEN $layer IS NOT NULL AND $neuron IS NOT NULL THEN [name] ELSE [] END AS model
  MATCH (a:Neuron {model: model, layer: $layer, index: $neuron})
  RETURN a
  UNION
  UNWIND CASE WHEN $layer IS NOT NULL AND $neuron IS NULL THEN [name] ELSE [] END AS model
  MATCH (a:Neuron {model: model, layer: $layer})
  RETURN a
  UNION
  UNWIND CASE WHEN $layer IS NULL THEN [name] ELSE [] END AS model
  MATCH (:Model {name: model})-[:HAS_NEURON]->(a:Neuron)
  WHERE $neuron IS NULL OR a.index = $neuron
  RETURN a
}
WITH a, coalesce(a.firing, []) AS fa, coalesce(a.context, []) AS ca
WITH a, fa, ca, size(fa) + size(ca) AS na
WHERE na > 0
WITH a, fa, ca, na, CASE WHEN $threshold * na <= 1.0 THEN 1 ELSE toInteger(ceil($threshold * na - 1e-9)) END AS need
// a's tokens, rarest first: the prefix (Token nodes) and the rest (texts), each split by role
CALL (fa, ca, na, need) {
  CALL (fa, ca) {
    UNWIND fa AS text
    MATCH (tok:Token {text: text})
    RETURN tok, text, true AS firing, COUNT { (tok)<-[:FIRES_ON]-() } AS degree
    UNION ALL
    UNWIND ca AS text
    MATCH (tok:Token {text: text})
    RETURN tok, text, false AS firing, COUNT { (tok)<-[:CONTEXT]-() } AS degree
  }
  WITH tok, text, firing ORDER BY degree
  WITH collect({tok: tok, text: text, firing: firing}) AS ranked
  WITH ranked[..na - need + 1] AS prefix, ranked[na - need + 1..] AS suffix
  RETURN [p IN prefix WHERE p.firing | p.tok] AS prefix_f, [p IN prefix WHERE NOT p.firing | p.tok] AS prefix_c,
         [s IN suffix WHERE s.firing | s.text] AS suffix_f, [s IN suffix WHERE NOT s.firing | s.text] AS suffix_c,
         size(suffix) AS rest
}
// the neurons small enough to pass the bound with one or two hits (none when $threshold
// is 0 or nearly: then every candidate is read)
CALL (a, na, rest) {
  WITH CASE WHEN $threshold * 1e9 > 2 + rest
            THEN toInteger(floor((2 + rest) * (1 + $threshold) / $threshold)) - na + 1 END AS small_max
  OPTIONAL MATCH (s:Neuron)
  WHERE s.model = a.model AND s.n_tokens > 0 AND s.n_tokens <= small_max
  RETURN small_max, collect(s) AS small
}
CALL (a, na, need, prefix_f, prefix_c, suffix_f, suffix_c, rest, small_max, small) {
  CALL (prefix_f, prefix_c) {
    UNWIND prefix_f AS tok
    MATCH (tok)<-[:FIRES_ON]-(b)
    RETURN b
    UNION ALL
    UNWIND prefix_c AS tok
    MATCH (tok)<-[:CONTEXT]-(b)
    RETURN b
  }
  WITH b, count(*) AS hits
  WHERE b <> a AND (small_max IS NULL OR hits > 2 OR b IN small)
  WITH b, hits, b.n_tokens AS nb
  WITH b, hits, nb, hits + CASE WHEN rest < nb - hits THEN rest ELSE nb - hits END AS most
  WHERE CASE WHEN most >= need AND toFloat(most) / (na + nb - most) >= $threshold THEN b.model = a.model ELSE false END
  // the exact overlap: the prefix hits plus a's other tokens that b holds
  WITH b, hits, nb, coalesce(b.firing, []) AS fb, coalesce(b.context, []) AS cb
  WITH b, fb, cb, toFloat(hits + size([t IN suffix_f WHERE t IN fb]) + size([t IN suffix_c WHERE t IN cb])) AS shared, na + nb AS sizes
  WITH b, fb, cb, shared / (sizes - shared) AS similarity
  WHERE similarity >= $threshold
  RETURN b, fb, cb, similarity
}
WITH a, b, fa, ca, fb, cb, similarity
WHERE (NOT $cross_layer_only OR b.layer <> a.layer)
  AND (NOT (($layer IS NULL OR b.layer = $layer) AND ($neuron IS NULL OR b.index = $neuron))
       OR [a.layer, a.index] < [b.layer, b.index])
WITH a, b, similarity, [t IN fa WHERE t IN fb] AS shared_firing, [t IN ca WHERE t IN cb] AS shared_context,
     size(fa) + size(fb) AS firing_sizes, size(ca) + size(cb) AS context_sizes
WITH a, b, similarity, shared_firing, shared_context,
     firing_sizes - size(shared_firing) AS firing_union, context_sizes - size(shared_context) AS context_union
RETURN a.model AS model, a.layer AS layer, a.index AS neuron, b.layer AS other_layer, b.index AS other_neuron,
       similarity,
       CASE firing_union WHEN 0 THEN 0.0 ELSE toFloat(size(shared_firing)) / firing_union END AS firing_jaccard,
       CASE context_union WHEN 0 THEN 0.0 ELSE toFloat(size(shared_context)) / context_union END AS context_jaccard,
       shared_firing, shared_context
ORDER BY similarity DESC, model, layer, neuron, other_layer, other_neuron
LIMIT $limit
