// Bench helper: records that the synthetic knowledge base is complete (written last).
// Parameters: $name, $props (map: model, seed, target_nodes, trie_nodes, neurons, seconds).
MERGE (b:BenchMarker {name: $name})
SET b += $props, b.finished_at = datetime()
