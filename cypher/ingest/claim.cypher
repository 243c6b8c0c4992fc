// Takes a chunk's neurons for one ingest run, inside the transaction that writes them:
// locks each Neuron node (creating it when new) in a fixed order, then returns the ones
// this run may write: not those another run has finished (with $force, only those it
// finished after this run started). Two ingests of the same neurons thus take turns,
// never fail on a constraint, and leave each neuron's graph and provenance to one run.
// Parameters: $model, $run_id, $force, $keys (list of {layer, index}).
OPTIONAL MATCH (run:Run {id: $run_id})
WITH run.started_at AS since
UNWIND $keys AS k
WITH since, k ORDER BY k.layer, k.index
MERGE (n:Neuron {model: $model, layer: k.layer, index: k.index})
SET n.claimed_by = coalesce($run_id, true)
REMOVE n.claimed_by
WITH since, k, n
WHERE NOT (coalesce(n.status, '') IN ['ok', 'dead']
           AND (NOT $force OR (coalesce(n.run_id, '') <> $run_id AND coalesce(n.updated_at >= since, false))))
RETURN k.layer AS layer, k.index AS index
