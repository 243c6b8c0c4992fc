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

// the groups are computed when the neuron is written (n2g_kb.kb.precompute): n_groups and
// firing_groups (each firing token's group number, in the order of the Neuron's sorted
// `firing` list), or, where the groups' tokens are not exactly the firing tokens (and in
// knowledge bases written before firing_groups), group_tokens (all groups' tokens, group
// after group) and group_sizes
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
WITH n WHERE n.n_groups >= $min_groups
WITH n ORDER BY n.n_groups DESC, n.model, n.layer, n.index
LIMIT $limit
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, n.n_groups AS n_groups,
       CASE WHEN n.firing_groups IS NOT NULL
         THEN [g IN range(0, n.n_groups - 1) | [i IN range(0, size(n.firing) - 1) WHERE n.firing_groups[i] = g | n.firing[i]]]
         ELSE [i IN range(0, n.n_groups - 1) |
               n.group_tokens[reduce(s = 0, k IN n.group_sizes[..i] | s + k)..reduce(s = 0, k IN n.group_sizes[..i + 1] | s + k)]]
       END AS groups,
       n.context_free AS context_free, n.f1 AS f1
ORDER BY n_groups DESC, model, layer, neuron
