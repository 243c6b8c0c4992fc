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

// f1 (the default) is read in index order (neuron_f1): first the $limit-th best value,
// then every neuron at or above it (ties included); other metrics read every neuron in scope
CALL () {
  UNWIND CASE WHEN $metric = 'f1' THEN [1] ELSE [] END AS fast
  WITH COLLECT {
    MATCH (n:Neuron)
    WHERE n.f1 IS NOT NULL AND ($model IS NULL OR n.model = $model) AND ($layer IS NULL OR n.layer = $layer)
    WITH n ORDER BY n.f1 DESC
    LIMIT $limit
    RETURN n.f1
  } AS best
  MATCH (n:Neuron)
  WHERE n.f1 >= best[-1] AND ($model IS NULL OR n.model = $model) AND ($layer IS NULL OR n.layer = $layer)
  RETURN n
  UNION
  UNWIND CASE WHEN $metric = 'f1' THEN [] ELSE [1] END AS slow
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
  WITH n WHERE n[$metric] IS NOT NULL
  RETURN n
}
WITH n, n[$metric] AS value
ORDER BY value DESC, n.model, n.layer, n.index
LIMIT $limit
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, $metric AS metric, value,
       n.f1 AS f1, n.precision AS precision, n.recall AS recall, n.n_trie_nodes AS trie_nodes, n.status AS status
ORDER BY value DESC, model, layer, neuron
