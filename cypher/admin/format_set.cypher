// Marks the knowledge base as written in the current format (after admin/migrate_nid).
// Parameters: $format.
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = []
SET kb.format = $format
