// Every neuron's firing and context token sets, for the in-memory `similar`
// (n2g_kb.kb.similarity). Parameters: $model (model name, or null for every model).
MATCH (m:Model)-[:HAS_NEURON]->(n:Neuron)
WHERE $model IS NULL OR m.name = $model
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, coalesce(n.firing, []) AS firing,
       coalesce(n.context, []) AS context
