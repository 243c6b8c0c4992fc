// Marks the knowledge base as written in the current format (after admin/migrate_nid), and
// bumps its version: tables built from the earlier format (the in-memory matcher and
// similarity index, in memory or on disk) are rebuilt.
// Parameters: $format.
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = []
SET kb.format = $format, kb.version = coalesce(kb.version, 0) + 1
