// The knowledge base's id, version (bumped by every neuron write) and the models it holds
// neurons of; no row when empty.
// Parameters: none.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
RETURN kb.id AS id, kb.version AS version, coalesce(kb.models, []) AS models
