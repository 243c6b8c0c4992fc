// Forces a checkpoint (store files up to date, older transaction logs prunable).
// Parameters: none.
CALL db.checkpoint() YIELD success
RETURN success
