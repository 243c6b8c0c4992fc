// Bench helper: the marker recording a finished synthetic knowledge base, if any.
// Parameters: $name.
MATCH (b:BenchMarker {name: $name})
RETURN properties(b) AS marker
