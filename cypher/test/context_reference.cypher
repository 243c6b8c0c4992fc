// Test only: query/context as it was before issue #10 (it re-walks each chosen neuron's whole
// subtree), kept as the reference the faster query/context must agree with
// (tests/test_context_reference.py). Same parameters and rows as query/context.
//
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
//    trie_context_nid index holds (fire, token, rank, nid): the nodes b of the
//    context token furthest back come out strongest first; each b leads up to its neuron's
//    firing-token node a (one per neuron), and DISTINCT + LIMIT stops after $limit neurons.
OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH coalesce(kb.models, []) AS names
WITH names, [i IN range(0, size(names) - 1) WHERE names[i] = $model][0] + 1 AS number
MATCH (b:TrieNode)
WHERE b.fire = $token AND b.token = $context[0] AND b.rank IS NOT NULL AND b.nid IS NOT NULL
  AND b.depth > size($context)
  AND ($distance IS NULL OR b.depth - size($context) = $distance)
  AND ($model IS NULL OR b.nid / 10000000000 = number)
  AND ($layer IS NULL OR b.nid / 10000000 % 1000 = $layer)
// the nodes above b, up to the one right after the firing token's context, spell the context
MATCH c = (:TrieNode)-[:NEXT*0..]->(b)
WHERE length(c) = size($context) - 1 AND [x IN nodes(c) | x.token] = reverse($context)
WITH names, b ORDER BY b.fire, b.token, b.rank, b.nid
MATCH (a:TrieNode)-[:NEXT*]->(b)
WHERE a.depth = 1
WITH DISTINCT names, a
LIMIT coalesce($limit, 1000000000)
WITH names[a.nid / 10000000000 - 1] AS model, a.nid / 10000000 % 1000 AS layer, a.nid % 10000000 AS neuron, a
// 2. Each chosen neuron's answer, path-aware, inside its own trie (below a).
MATCH p = (a)-[:NEXT*1..]->(b:TrieNode {token: $context[0]})
WHERE length(p) >= size($context)
  AND [x IN nodes(p)[-size($context)..] | x.token] = reverse($context)
  AND ($distance IS NULL OR b.depth - size($context) = $distance)
MATCH q = (b)-[:NEXT*0..]->(e:TrieNode)
WHERE e.end_activation IS NOT NULL
WITH model, layer, neuron, a, b.depth - size($context) AS distance, e.end_activation AS end_activation,
     reverse([x IN nodes(p) + tail(nodes(q)) | x.token]) AS pattern
ORDER BY end_activation DESC, size(pattern), distance
WITH model, layer, neuron, a, min(distance) AS distance,
     collect({end_activation: end_activation, pattern: pattern})[0] AS best
RETURN model, layer, neuron, a.token AS token, $context AS context,
       distance, coalesce(a.activation, -a.fire_rank) AS activation, best.end_activation AS end_activation, best.pattern AS pattern
ORDER BY end_activation DESC, model, layer, neuron
