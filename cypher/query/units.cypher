// n2g-kb: stored units by kind: MLP neurons, SAE latents, transcoder features
//
// Answers: which models hold units of a kind ('neuron', 'sae_latent' or 'transcoder'),
// from which SAE, in which layers, and how many of them are ok, dead or failed. Neurons
// written before units had a kind count as 'neuron'. SAE latents live under their own
// model name, '<model>@<sae id>', so every other query reaches them through $model.
//
// Parameters:
//   $kind   'neuron', 'sae_latent' or 'transcoder', or null for every kind
//
// Returns one row per model and layer: model, kind, sae, layer, units, ok, dead, failed
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param kind => 'neuron'

// every model is listed on the KnowledgeBase node; its units hang off its Model node
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND kb.models AS name
MATCH (:Model {name: name})-[:HAS_NEURON]->(n:Neuron)
WITH n, coalesce(n.kind, 'neuron') AS kind
WHERE $kind IS NULL OR kind = $kind
RETURN n.model AS model, kind, n.sae AS sae, n.layer AS layer, count(n) AS units,
       count(CASE WHEN n.status = 'ok' THEN 1 END) AS ok,
       count(CASE WHEN n.status = 'dead' THEN 1 END) AS dead,
       count(CASE WHEN n.status = 'failed' THEN 1 END) AS failed
ORDER BY model, layer
