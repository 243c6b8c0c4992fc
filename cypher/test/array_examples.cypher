// Test helper: gives one neuron's Examples node the form earlier versions wrote (tokens as a
// string[] and activations as a double[], every example's one after another, instead of
// tokens_json / activations_f64), to check that such a knowledge base reads.
// Parameters: $model, $layer, $index, $tokens (list of strings), $activations (list of floats).
MATCH (n:Neuron {model: $model, layer: $layer, index: $index})-[:HAS_EXAMPLES]->(x:Examples)
SET x.tokens = $tokens, x.activations = $activations
REMOVE x.tokens_json, x.activations_f64
RETURN count(x) AS converted
