// Records the start of an ingest run with its full provenance.
// Parameters: $id, $model, $props (map of scalar/list properties: config_json, versions_json, args_json, layers, ...),
//   $format (n2g_kb.kb.store.FORMAT, set on a new KnowledgeBase node).
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = [], kb.format = $format
SET kb.models = kb.models + [x IN [$model] WHERE NOT x IN kb.models]
MERGE (m:Model {name: $model})
MERGE (r:Run {id: $id})
SET r += $props, r.model = $model, r.started_at = datetime(), r.status = 'running'
MERGE (r)-[:OF_MODEL]->(m)
