// n2g-kb: neurons whose stored graphs fire at each position of a text
//
// Answers: for a tokenised text, at every position, which neurons' tries predict
// activation there, with N2G's exact prediction rule (n2g_kb.n2g.trie.Trie.predict): walk back
// from the position; depth d of the trie must match the token d-1 places before it, a
// wildcard ('<IGNORE>') matches any token; the longest matching complete pattern wins, and
// among equally long ones the one that matches exact tokens earliest (nearest the firing
// token). query/last_token is the same question for the last position only. Computed
// from the stored graphs alone, without running the language model.
//
// Parameters:
//   $tokens          the text as a list of normalised tokens in text order (tokenise with the
//                    model's tokenizer, then n2g_kb.n2g.trie.normalise_token each; `n2gkb fire`
//                    does both)
//   $min_activation  only predictions of at least this (0.5 = "fires")
//   $model           model name, or null for every model
//   $layer           layer number, or null for every layer
//
// Returns one row per (position, neuron), by position then strongest first:
//   position (0-based), token, model, layer, neuron, activation (the prediction),
//   length (tokens in the winning pattern), pattern (it, in text order)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param tokens => ['the', 'capital', 'of', 'paris']
// :param min_activation => 0.5
// :param model => null
// :param layer => null
UNWIND range(0, size($tokens) - 1) AS position
WITH position, reverse($tokens[..position + 1]) AS back
MATCH (a:TrieNode {token: back[0], depth: 1})
WHERE ($model IS NULL OR a.model = $model)
  AND ($layer IS NULL OR a.layer = $layer)
MATCH p = (a)-[:NEXT*0..]->(e:TrieNode)
WHERE e.end_activation IS NOT NULL
  AND all(x IN nodes(p) WHERE x.depth <= size(back) AND (x.kind = 'ignore' OR x.token = back[x.depth - 1]))
WITH position, a, e, p
ORDER BY e.depth DESC,
         reduce(key = '', x IN nodes(p) | key + CASE x.kind WHEN 'ignore' THEN '1' ELSE '0' END) ASC
WITH position, a,
     collect({activation: e.end_activation, length: e.depth, pattern: reverse([x IN nodes(p) | x.token])})[0] AS best
WHERE best.activation >= $min_activation
MATCH (n:Neuron)-[:HAS_TRIE]->(:TrieNode)-[:NEXT]->(a)
RETURN position, $tokens[position] AS token, n.model AS model, n.layer AS layer, n.index AS neuron,
       best.activation AS activation, best.length AS length, best.pattern AS pattern
ORDER BY position, activation DESC, model, layer, neuron
