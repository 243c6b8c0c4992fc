// n2g-kb: per-layer summary
//
// Answers: for each model and layer, how many neurons are stored, how many are ok / dead
// (never fired) / failed (extraction error), how many carry evaluation scores, their mean
// f1, precision and recall (over evaluated neurons), and the size of their tries (mean
// over ok neurons, and the layer's total).
//
// Parameters:
//   $model  model name, or null for every model
//
// Returns one row per (model, layer): model, layer, neurons, ok, dead, failed, evaluated,
//   mean_f1, mean_precision, mean_recall, mean_trie_nodes, trie_nodes
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null

// every model is listed on the KnowledgeBase node; its neurons hang off its Model node
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND [x IN kb.models WHERE $model IS NULL OR x = $model] AS name
MATCH (:Model {name: name})-[:HAS_NEURON]->(n:Neuron)
RETURN n.model AS model, n.layer AS layer, count(n) AS neurons,
       count(CASE WHEN n.status = 'ok' THEN 1 END) AS ok,
       count(CASE WHEN n.status = 'dead' THEN 1 END) AS dead,
       count(CASE WHEN n.status = 'failed' THEN 1 END) AS failed,
       count(n.f1) AS evaluated,
       avg(n.f1) AS mean_f1, avg(n.precision) AS mean_precision, avg(n.recall) AS mean_recall,
       avg(CASE WHEN n.status = 'ok' THEN n.n_trie_nodes END) AS mean_trie_nodes,
       sum(coalesce(n.n_trie_nodes, 0)) AS trie_nodes
ORDER BY model, layer
