// n2g-kb: polysemantic candidates (firing patterns in several disconnected groups)
//
// Answers: which neurons' activating patterns fall into at least $min_groups groups that
// share no context. Definition: take the neuron's firing tokens (depth-1 trie nodes); two
// of them are connected when their patterns share a context token (a token node of the
// same text at any depth below each; wildcards never connect, and only context nodes
// that can complete a pattern count); a group is a connected component. A firing token
// without any context is a group of its own, so neurons that fire on several tokens
// regardless of context are candidates too: context_free counts those tokens, so you
// can tell the two kinds apart.
//
// Parameters:
//   $model       model name, or null for every model
//   $layer       layer number, or null for every layer
//   $min_groups  smallest number of groups returned (2 = at least two unrelated groups)
//   $limit       at most this many rows
//
// Returns one row per neuron, most groups first: model, layer, neuron, n_groups,
//   groups (list of groups, each a sorted list of firing tokens), context_free, f1
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param min_groups => 2
// :param limit => 50
MATCH (n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(f:TrieNode)
WITH n, f,
     COLLECT {
       MATCH (f)-[:NEXT*]->(c:TrieNode {kind: 'token'})
       WHERE EXISTS { MATCH (c)-[:NEXT*0..]->(e:TrieNode) WHERE e.end_activation IS NOT NULL }
       RETURN DISTINCT c.token
     } AS context
ORDER BY f.token
WITH n, collect({tokens: [f.token], context: context}) AS items
WITH n, size([i IN items WHERE size(i.context) = 0]) AS context_free,
     reduce(groups = [], item IN items |
       [g IN groups WHERE none(c IN g.context WHERE c IN item.context)] +
       [reduce(merged = item, g IN [g IN groups WHERE any(c IN g.context WHERE c IN item.context)] |
          {tokens: merged.tokens + g.tokens, context: merged.context + g.context})]
     ) AS groups
WHERE size(groups) >= $min_groups
WITH n, context_free, [g IN groups | COLLECT { UNWIND g.tokens AS t RETURN t ORDER BY t }] AS groups
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, size(groups) AS n_groups,
       COLLECT { UNWIND groups AS g RETURN g ORDER BY g } AS groups, context_free, n.f1 AS f1
ORDER BY n_groups DESC, model, layer, neuron
LIMIT $limit
