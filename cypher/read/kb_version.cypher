// The knowledge base's id and version (bumped by every neuron write); no row when empty.
// Parameters: none.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
RETURN kb.id AS id, kb.version AS version
