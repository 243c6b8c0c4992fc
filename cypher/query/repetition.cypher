// n2g-kb: in-context / repetition candidates (a token that is both firing and context)
//
// Answers: which neurons fire on a token that they also use as context, as in-context
// learning and repeated-token neurons do ("Smith ... Smith"). same_pattern is true when
// one complete pattern has the token both as its firing token and as a context token
// (path-aware: a depth-1 node of the token with a token node of the same text below it
// that can complete); false when the token is firing in one pattern and context in
// another of the same neuron only.
//
// Parameters:
//   $model         model name, or null for every model
//   $layer         layer number, or null for every layer
//   $same_pattern  true: only same-pattern repetition; false: neuron-level too
//   $limit         at most this many rows
//
// Returns one row per (neuron, token), same-pattern ones first: model, layer, neuron,
//   token, activation (of the firing token), same_pattern, distance (smallest number of
//   positions between the firing token and its repeat in one pattern, or null)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param model => null
// :param layer => null
// :param same_pattern => false
// :param limit => 50
MATCH (n:Neuron)-[f:FIRES_ON]->(t:Token)<-[:CONTEXT]-(n)
WHERE ($model IS NULL OR n.model = $model)
  AND ($layer IS NULL OR n.layer = $layer)
CALL (n, t) {
  OPTIONAL MATCH (n)-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(a:TrieNode {token: t.text, depth: 1})
                 -[:NEXT*]->(b:TrieNode {kind: 'token', token: t.text})
  WHERE EXISTS { MATCH (b)-[:NEXT*0..]->(e:TrieNode) WHERE e.end_activation IS NOT NULL }
  RETURN min(b.depth) - 1 AS distance
}
WITH n, t, f, distance
WHERE NOT $same_pattern OR distance IS NOT NULL
RETURN n.model AS model, n.layer AS layer, n.index AS neuron, t.text AS token, f.activation AS activation,
       distance IS NOT NULL AS same_pattern, distance
ORDER BY same_pattern DESC, activation DESC, model, layer, neuron, token
LIMIT $limit
