// n2g-kb: neurons whose stored graph fires on the last token of a text
//
// Answers: for a tokenised text, which neurons' tries predict activation on its LAST
// token, with N2G's exact prediction rule (n2g_kb.n2g.trie.Trie.predict): walk back from the
// last token; depth d of the trie must match the token d-1 places before it, a wildcard
// ('<IGNORE>') matches any token; among the complete patterns that match, the longest
// wins, and among equally long ones the one that matches exact tokens earliest (nearest
// the firing token). Its end_activation is the prediction. Neurons with no complete
// matching pattern predict 0 and are not returned.
//
// Parameters:
//   $tokens          the text as a list of normalised tokens in text order (tokenise with the
//                    model's tokenizer, then n2g_kb.n2g.trie.normalise_token each);
//                    `n2gkb fire` does this for every position of a text
//   $min_activation  only neurons whose prediction is at least this (0.5 = "fires")
//   $model           model name, or null for every model
//   $layer           layer number, or null for every layer
//   $limit           at most this many rows (the strongest), or null for all
//
// Returns one row per neuron, strongest first:
//   model, layer, neuron, activation (the prediction), length (tokens in the winning
//   pattern), pattern (the winning pattern in text order, '<IGNORE>' for wildcards)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param tokens => ['the', 'capital', 'of', 'paris']
// :param min_activation => 0.5
// :param model => null
// :param layer => null
// :param limit => 50

// How: every pattern-end trie node holds its pattern as one key (pkey: the tokens from the
// firing token back, '|'-joined, '\\' and '|' escaped with '\\', wildcards as '\\*'),
// and the KnowledgeBase node lists every wildcard mask (shape) that occurs. For each
// shape the text gives exactly one key; each key is one seek of the trie_pattern_end_nid index,
// which holds every value read here. The patterns of more than one token are rare and all
// read. The last token alone (shape '0') can be a key of thousands of neurons: a neuron with
// a longer match loses it, and of the others the index hands the strongest over first, so
// reading stops after $limit of them (and their ties).
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH kb.shapes AS shapes, kb.models AS names,
     reverse([t IN $tokens | replace(replace(t, '\\', '\\\\'), '|', '\\|')]) AS back
WITH shapes, names, back, [i IN range(0, size(names) - 1) WHERE names[i] = $model][0] + 1 AS number
// 1. every match of more than one token; the longest wins, then exact tokens nearest the firing token
CALL (shapes, back, number) {
  UNWIND shapes AS shape
  WITH shape, back WHERE size(shape) > 1 AND size(shape) <= size(back)
  WITH shape, reduce(key = '', i IN range(0, size(shape) - 1) |
         key + CASE WHEN i > 0 THEN '|' ELSE '' END +
         CASE substring(shape, i, 1) WHEN '1' THEN '\\*' ELSE back[i] END) AS key
  MATCH (e:TrieNode)
  USING INDEX e:TrieNode(pkey, end_activation, nid)
  WHERE e.pkey = key AND e.end_activation IS NOT NULL AND e.nid IS NOT NULL
    AND ($model IS NULL OR e.nid / 10000000000 = number)
    AND ($layer IS NULL OR e.nid / 10000000 % 1000 = $layer)
  WITH e.nid AS nid, e.end_activation AS activation, shape
  ORDER BY size(shape) DESC, shape
  WITH nid, collect({activation: activation, shape: shape})[0] AS best
  RETURN collect({nid: nid, activation: best.activation, shape: best.shape}) AS longer
}
WITH names, number, back, longer, [x IN longer | x.nid] AS taken
// 2. the last token alone, for neurons without a longer match: the activation of the
//    $limit-th strongest (index order, stops there), then every one at least that strong
CALL (back, taken, number) {
  MATCH (e:TrieNode)
  USING INDEX e:TrieNode(pkey, end_activation, nid)
  WHERE e.pkey = back[0] AND e.end_activation >= $min_activation AND e.nid IS NOT NULL
    AND ($model IS NULL OR e.nid / 10000000000 = number)
    AND ($layer IS NULL OR e.nid / 10000000 % 1000 = $layer)
    AND NOT e.nid IN taken
  WITH e ORDER BY e.pkey DESC, e.end_activation DESC, e.nid DESC
  LIMIT coalesce($limit, 1000000000)
  RETURN min(e.end_activation) AS cut
}
CALL (back, taken, number, cut) {
  MATCH (e:TrieNode)
  USING INDEX e:TrieNode(pkey, end_activation, nid)
  WHERE e.pkey = back[0] AND e.end_activation >= cut AND e.end_activation >= $min_activation
    AND e.nid IS NOT NULL
    AND ($model IS NULL OR e.nid / 10000000000 = number)
    AND ($layer IS NULL OR e.nid / 10000000 % 1000 = $layer)
    AND NOT e.nid IN taken
  RETURN collect({nid: e.nid, activation: e.end_activation, shape: '0'}) AS single
}
UNWIND longer + single AS x
WITH names, x WHERE x.activation >= $min_activation
WITH names[x.nid / 10000000000 - 1] AS model, x.nid / 10000000 % 1000 AS layer, x.nid % 10000000 AS neuron,
     x.activation AS activation, x.shape AS shape
ORDER BY activation DESC, model, layer, neuron
LIMIT coalesce($limit, 1000000000)
RETURN model, layer, neuron, activation, size(shape) AS length,
       reverse([i IN range(0, size(shape) - 1) |
                CASE substring(shape, i, 1) WHEN '1' THEN '<IGNORE>' ELSE reverse($tokens)[i] END]) AS pattern
