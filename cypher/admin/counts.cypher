// Node and relationship counts of the whole database (for `n2gkb db status`).
// Parameters: none.
CALL () { MATCH (n) RETURN count(n) AS nodes }
CALL () { MATCH ()-[r]->() RETURN count(r) AS relationships }
RETURN nodes, relationships
