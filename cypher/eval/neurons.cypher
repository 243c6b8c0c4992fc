// The neurons evaluation may score, with what it needs to decide whether it can: status,
// error, max activation, whether a trie is stored, and how many train / test examples.
// Parameters: $model, $layers (list of ints, or null for every layer),
// $neurons (list of ints, or null for every neuron).
// Optional properties are read through properties(n) so that a database where no neuron
// has one yet (e.g. no `error`) gives null without an "unknown property" warning.
// Examples: the splits array of the neuron's Examples node, or (a knowledge base written
// before it) its Example nodes.
MATCH (n:Neuron {model: $model})
WHERE ($layers IS NULL OR n.layer IN $layers) AND ($neurons IS NULL OR n.index IN $neurons)
CALL (n) {
  OPTIONAL MATCH (n)-[:HAS_EXAMPLES]->(x:Examples)
  WITH coalesce(properties(x).splits, []) AS splits LIMIT 1
  RETURN size([s IN splits WHERE s = 'train']) AS packed_train, size([s IN splits WHERE s = 'test']) AS packed_test
}
RETURN n.layer AS layer,
       n.index AS index,
       n.status AS status,
       properties(n).error AS error,
       properties(n).max_activation AS max_activation,
       EXISTS { (n)-[:HAS_TRIE]->(:TrieNode) } AS has_graph,
       packed_train + COUNT { (n)-[:HAS_EXAMPLE]->(e:Example) WHERE e.split = 'train' } AS n_train,
       packed_test + COUNT { (n)-[:HAS_EXAMPLE]->(e:Example) WHERE e.split = 'test' } AS n_test
ORDER BY layer, index
