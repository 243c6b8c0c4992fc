// Nodes per label and relationships per type, Runs and their edges left out.
// Parameters: none.
CALL () {
  MATCH (n) WHERE NOT n:Run
  UNWIND labels(n) AS label
  RETURN label AS kind, count(*) AS count
  UNION ALL
  MATCH ()-[r]->() WHERE NOT type(r) IN ['PRODUCED', 'OF_MODEL']
  RETURN type(r) AS kind, count(*) AS count
}
RETURN kind, count ORDER BY kind
