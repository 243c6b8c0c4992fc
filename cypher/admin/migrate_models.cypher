// First step of bringing a knowledge base written before neuron numbers to the current
// format (n2g_kb.kb.store.Store.migrate): every model, those of the Model nodes and those
// the Neurons name, gets a place in the KnowledgeBase node's list of models (its number,
// from 1). It reads Models and Neurons by label: a migration, not a library query.
// Parameters: none.
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = []
WITH kb
CALL () { MATCH (m:Model) RETURN collect(m.name) AS models }
CALL () { MATCH (n:Neuron) WHERE n.nid IS NULL RETURN collect(DISTINCT n.model) AS named }
SET kb.models = reduce(names = coalesce(kb.models, []), x IN models + named |
                       CASE WHEN x IN names THEN names ELSE names + [x] END)
