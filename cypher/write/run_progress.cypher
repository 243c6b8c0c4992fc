// Adds properties to a Run without touching its status (a shard recording itself:
// shards = N, shard_I_of_N = 'finished' | 'interrupted' | 'failed', ...).
// Parameters: $id, $props (map of scalar properties).
MATCH (r:Run {id: $id})
SET r += $props
