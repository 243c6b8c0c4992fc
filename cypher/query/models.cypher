// n2g-kb: the models in the knowledge base
//
// Answers: which models have been ingested, how many neurons each has stored, in which
// layers, and the properties recorded on the Model node (hook, n_layers, d_mlp, ...).
//
// Parameters: none.
//
// Returns one row per model: model, neurons, layers, properties
//
// Neo4j Browser: run as is.
// every model is listed on the KnowledgeBase node (so no label scan is needed)
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND kb.models AS name
MATCH (m:Model {name: name})
RETURN m.name AS model,
       COUNT { (m)-[:HAS_NEURON]->(:Neuron) } AS neurons,
       COLLECT { MATCH (m)-[:HAS_NEURON]->(n:Neuron) RETURN DISTINCT n.layer AS layer ORDER BY layer } AS layers,
       properties(m) AS properties
ORDER BY model
