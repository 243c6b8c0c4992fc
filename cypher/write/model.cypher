// Creates or updates a Model node.
// Parameters: $name, $props (map: hook, n_layers, d_mlp, architecture, ...), $format (n2g_kb.kb.store.FORMAT, set
// on a new KnowledgeBase node).
// The KnowledgeBase node lists every model (so queries over all models need no label scan).
MERGE (kb:KnowledgeBase {name: 'n2g-kb'})
ON CREATE SET kb.id = randomUUID(), kb.version = 0, kb.shapes = [], kb.models = [], kb.format = $format
SET kb.models = kb.models + [x IN [$name] WHERE NOT x IN kb.models]
MERGE (m:Model {name: $name})
SET m += $props
