// Deletes the Runs of a model (after its neurons were deleted, for --replace).
// Parameters: $model.
MATCH (r:Run {model: $model})
DETACH DELETE r
