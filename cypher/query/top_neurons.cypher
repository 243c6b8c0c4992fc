// n2g-kb: top neurons by an evaluation metric
//
// Answers: the best-explained neurons: those whose stored graph scores highest on a
// metric stored on the Neuron node (f1 by default; also precision, recall, support,
// nonfiring_f1, baseline_token_f1, baseline_ngram_f1, ..., max_activation,
// n_trie_nodes). Neurons without that metric (not evaluated, dead, failed) are left out.
//
// Parameters:
//   $metric  name of the Neuron property to rank by, e.g. 'f1' (read with n[$metric];
//           the Python helper accepts only known metric names)
//   $model   model name, or null for every model
//   $layer   layer number, or null for every layer
//   $limit   at most this many rows
//
// Returns one row per neuron, highest first: model, layer, neuron, metric, value, f1,
//   precision, recall, trie_nodes, status
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param metric => 'f1'
// :param model => null
// :param layer => null
// :param limit => 20
MATCH (n:Neuron)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
  AND n[$metric] IS NOT NULL
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, $metric AS metric, n[$metric] AS value,
       n.f1 AS f1, n.precision AS precision, n.recall AS recall, n.n_trie_nodes AS trie_nodes, n.status AS status
ORDER BY value DESC, model, layer, neuron
LIMIT $limit
