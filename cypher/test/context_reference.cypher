// Test only: query/context the slow, plain way, kept as the reference the fast query/context
// must agree with (tests/test_context_reference.py): every path of every neuron that fires
// on $token is walked, and nothing precomputed is read (no fire, rank or depth: the depth-1
// node a is the root's child, depths are path lengths). Same parameters and rows as
// query/context.
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

OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH coalesce(kb.models, []) AS names
MATCH (n:Neuron)-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(a:TrieNode)
WHERE a.token = $token AND ($model IS NULL OR n.model = $model) AND ($layer IS NULL OR n.layer = $layer)
// b: the context token furthest back, the last size($context) nodes of a -> b spell the
// context, and b or a node below it ends a pattern
MATCH p = (a)-[:NEXT*1..]->(b:TrieNode)
WHERE length(p) >= size($context)
  AND [x IN nodes(p)[-size($context)..] | x.token] = reverse($context)
  AND ($distance IS NULL OR length(p) + 1 - size($context) = $distance)
MATCH q = (b)-[:NEXT*0..]->(e:TrieNode)
WHERE e.end_activation IS NOT NULL
WITH n, a, length(p) + 1 - size($context) AS distance, e.end_activation AS end_activation,
     reverse([x IN nodes(p) + tail(nodes(q)) | x.token]) AS pattern
ORDER BY end_activation DESC, size(pattern), distance
WITH n, a, min(distance) AS distance, collect({end_activation: end_activation, pattern: pattern})[0] AS best
// the strongest $limit neurons (ties: by the neuron's number, as the index orders them)
ORDER BY best.end_activation DESC, n.nid
LIMIT coalesce($limit, 1000000000)
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, a.token AS token, $context AS context,
       distance, coalesce(a.activation, -a.fire_rank) AS activation, best.end_activation AS end_activation, best.pattern AS pattern
ORDER BY end_activation DESC, model, layer, neuron
