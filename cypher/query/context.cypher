// n2g-kb: neurons that fire on a token in a given context (path-aware)
//
// Answers: which neurons have a complete pattern that fires on TOKEN and holds the
// CONTEXT tokens in that same pattern. In trie terms: a path root -> a -> ... -> b where
// a is the depth-1 node of TOKEN, the last size($context) nodes of the path spell the
// context backwards (b is the context token furthest back), and the path can complete:
// b itself or a node below b ends a pattern (has end_activation). A context token that
// belongs to another pattern of the same neuron does not count; query/context_loose
// (neuron-level token sets) would wrongly count it.
//
// Parameters:
//   $token     the firing token, normalised (' Paris' -> 'paris'; see n2g_kb.n2g.trie.normalise_token)
//   $context   non-empty list of normalised context tokens in text order, consecutive in
//              the pattern, the last one nearest the firing token: ['to'], ['capital', 'of'].
//              '<IGNORE>' matches only wildcard nodes; a wildcard never matches a given token.
//   $distance  positions between the firing token and the last context token (1 = right
//              before it), or null for any distance
//   $model     model name, or null for every model
//   $layer     layer number, or null for every layer
//   $limit     at most this many rows (the strongest), or null for all
//
// Returns one row per neuron, strongest completion first:
//   model, layer, neuron, token, context, distance (the smallest found), activation (of the
//   firing token), end_activation (the strongest completion through the context),
//   pattern (that completion in text order, '<IGNORE>' for wildcards)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param token => 'paris'
// :param context => ['to']
// :param distance => null
// :param model => null
// :param layer => null
// :param limit => 50

// 1. Which neurons: every trie node carries the firing token of its branch (fire) and minus
//    the strongest end_activation at or below it (rank, null where nothing completes). The
//    trie_context index holds (fire, token, rank, model, layer, neuron): the nodes b of the
//    context token furthest back come out strongest first. One walk up from each b reaches
//    its neuron's firing-token node a (depth 1, one per neuron) and checks that the nodes
//    right above b spell the rest of the context; DISTINCT + LIMIT stops after $limit neurons.
MATCH (b:TrieNode)
WHERE b.fire = $token AND b.token = $context[0] AND b.rank IS NOT NULL
  AND b.model IS NOT NULL AND b.layer IS NOT NULL AND b.neuron IS NOT NULL
  AND b.depth > size($context)
  AND ($distance IS NULL OR b.depth - size($context) = $distance)
  AND ($model IS NULL OR b.model = $model)
  AND ($layer IS NULL OR b.layer = $layer)
MATCH p = (a:TrieNode)-[:NEXT*]->(b)
WHERE a.depth = 1 AND [x IN nodes(p)[-size($context)..] | x.token] = reverse($context)
WITH a, b ORDER BY b.fire, b.token, b.rank, b.model, b.layer, b.neuron
WITH DISTINCT a
LIMIT coalesce($limit, 1000000000)
// 2. Each chosen neuron's answer, path-aware, inside its own trie (below a): every b of
//    the context below a (the smallest distance is over all of them), then only the
//    strongest b's (lowest rank); below those, only nodes of the same rank lead to the
//    completion that gives b its rank, so the walk down to the pattern end e is short.
CALL (a) {
  MATCH p = (a)-[:NEXT*]->(b:TrieNode)
  WHERE b.token = $context[0] AND b.rank IS NOT NULL AND b.depth > size($context)
    AND ($distance IS NULL OR b.depth - size($context) = $distance)
    AND [x IN nodes(p)[-size($context)..] | x.token] = reverse($context)
  WITH p, b ORDER BY b.rank
  WITH min(b.depth) - size($context) AS distance, collect({p: p, b: b}) AS found
  UNWIND [f IN found WHERE f.b.rank = found[0].b.rank] AS f
  WITH distance, f.p AS p, f.b AS b
  MATCH q = (b)-[:NEXT*0..]->(e:TrieNode)
  WHERE all(x IN nodes(q) WHERE x.rank = b.rank) AND e.end_activation = -b.rank
  // the strongest completion; among equals the shortest pattern, then the smallest distance
  WITH distance, e.end_activation AS end_activation, b.depth AS depth,
       reverse([x IN nodes(p) + tail(nodes(q)) | x.token]) AS pattern
  ORDER BY size(pattern), depth
  RETURN distance, end_activation, collect(pattern)[0] AS pattern
}
// the firing activation: minus a's fire_rank (a knowledge base written before it was dropped
// also holds it as a.activation)
RETURN a.model AS model, a.layer AS layer, a.neuron AS neuron, a.token AS token, $context AS context,
       distance, coalesce(a.activation, -a.fire_rank) AS activation, end_activation, pattern
ORDER BY end_activation DESC, model, layer, neuron
