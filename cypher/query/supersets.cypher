// n2g-kb: superset / subset neurons (by firing tokens)
//
// Answers: pairs of neurons of the same model where the superset neuron's set of firing
// tokens (FIRES_ON) strictly contains the subset neuron's: every token the subset neuron
// fires on, the superset neuron fires on too, and on at least one more. The paper finds
// such pairs across layers (a later neuron covering an earlier one, or the reverse).
//
// Parameters:
//   $model             model name, or null for every model
//   $layer             layer of a neuron on either side of the pair, or null
//   $neuron            index of a neuron on either side of the pair, or null
//   $cross_layer_only  true: only pairs in different layers
//   $limit             at most this many rows
//
// Returns one row per pair: model, superset_layer, superset_neuron, subset_layer,
//   subset_neuron, shared_tokens (the subset's firing tokens), extra_tokens (the
//   superset's other firing tokens)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param neuron => null
// :param cross_layer_only => false
// :param limit => 50

// How: each Neuron holds its sorted firing tokens (firing) and them as one key (firing_key;
// n2g_kb.kb.precompute). The strict subsets of x are found by key, one index seek per subset
// of x's tokens (up to 12 tokens; beyond, through the neurons that share a token); the
// strict supersets of x all fire on x's rarest token.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
UNWIND [x IN kb.models WHERE $model IS NULL OR x = $model] AS name
CALL (name) {
  MATCH (x:Neuron {model: name, layer: $layer})
  WHERE $neuron IS NULL OR x.index = $neuron
  RETURN x
  UNION
  WITH name WHERE $layer IS NULL
  MATCH (:Model {name: name})-[:HAS_NEURON]->(x:Neuron)
  WHERE $neuron IS NULL OR x.index = $neuron
  RETURN x
}
WITH x, x.firing AS xs
WHERE size(xs) > 0
CALL (x, xs) {
  // y a strict subset of x, found by key
  WITH x, xs WHERE size(xs) <= 12
  UNWIND range(1, toInteger(2 ^ size(xs)) - 2) AS bits
  WITH x, [i IN range(0, size(xs) - 1) WHERE (bits / toInteger(2 ^ i)) % 2 = 1 | xs[i]] AS part
  WITH x, reduce(key = '', i IN range(0, size(part) - 1) |
         key + CASE WHEN i > 0 THEN '|' ELSE '' END + replace(replace(part[i], '\\', '\\\\'), '|', '\\|')) AS key
  MATCH (y:Neuron {firing_key: key})
  WHERE y.model = x.model
  RETURN x AS sup, y AS sub
  UNION
  // y a strict subset of x, x with many tokens
  WITH x, xs WHERE size(xs) > 12
  UNWIND xs AS text
  MATCH (:Token {text: text})<-[:FIRES_ON]-(y:Neuron)
  WITH DISTINCT x, xs, y
  WHERE y.model = x.model AND size(y.firing) < size(xs) AND all(t IN y.firing WHERE t IN xs)
  RETURN x AS sup, y AS sub
  UNION
  // y a strict superset of x: it fires on x's rarest token
  UNWIND xs AS text
  MATCH (tok:Token {text: text})
  WITH x, xs, tok ORDER BY COUNT { (tok)<-[:FIRES_ON]-() }
  LIMIT 1
  MATCH (tok)<-[:FIRES_ON]-(y:Neuron)
  WHERE y.model = x.model AND size(y.firing) > size(xs) AND all(t IN xs WHERE t IN y.firing)
  RETURN y AS sup, x AS sub
}
WITH DISTINCT sup, sub
WHERE NOT $cross_layer_only OR sup.layer <> sub.layer
WITH sup, sub ORDER BY sup.model, sup.layer, sup.index, sub.layer, sub.index
LIMIT $limit
RETURN sup.model AS model, sup.layer AS superset_layer, sup.index AS superset_neuron,
       sub.layer AS subset_layer, sub.index AS subset_neuron, sub.firing AS shared_tokens,
       [t IN sup.firing WHERE NOT t IN sub.firing] AS extra_tokens
ORDER BY model, superset_layer, superset_neuron, subset_layer, subset_neuron
