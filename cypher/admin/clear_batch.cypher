// Deletes up to $limit nodes (and their relationships); run until it returns 0.
// Used by tests to start from an empty database. Parameters: $limit.
MATCH (n) WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
