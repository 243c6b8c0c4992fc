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
// Returns one row per position where some neuron fires, in position order (a compact
// record: one list entry per neuron, strongest first, then by model, layer, neuron):
//   position (0-based), token, models, layers, neurons, activations (the predictions),
//   shapes (each winning pattern's wildcard mask, read from the firing token backwards:
//   '0' an exact token, '1' a wildcard; its length is the pattern's). The pattern itself is
//   the size(shape) tokens ending at position, '<IGNORE>' where the mask has '1'
//   (n2g_kb.kb.query.fire_rows expands the records into one row per neuron).
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param tokens => ['the', 'capital', 'of', 'paris']
// :param min_activation => 0.5
// :param model => null
// :param layer => null

// How: as query/last_token, at every position: each pattern-end trie node holds its pattern
// as one key (pkey), the KnowledgeBase node lists the wildcard masks (shapes) that occur;
// per position and shape the text gives one key, and each key is one index seek.
MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH kb.shapes AS shapes, kb.models AS names, [t IN $tokens | replace(replace(t, '\\', '\\\\'), '|', '\\|')] AS text
WITH shapes, names, text, [i IN range(0, size(names) - 1) WHERE names[i] = $model][0] + 1 AS number
UNWIND range(0, size($tokens) - 1) AS position
UNWIND shapes AS shape
WITH names, number, position, shape, text WHERE size(shape) <= position + 1
WITH names, number, position, shape, reduce(key = '', i IN range(0, size(shape) - 1) |
       key + CASE WHEN i > 0 THEN '|' ELSE '' END +
       CASE substring(shape, i, 1) WHEN '1' THEN '\\*' ELSE text[position - i] END) AS key
// (the trie_pattern_end_nid index holds every value read here: no node is touched; the
// neuron's number nid holds its model number, layer and index, as in query/fires_on)
MATCH (e:TrieNode)
USING INDEX e:TrieNode(pkey, end_activation, nid)
WHERE e.pkey = key AND e.end_activation IS NOT NULL AND e.nid IS NOT NULL
  AND ($model IS NULL OR e.nid / 10000000000 = number)
  AND ($layer IS NULL OR e.nid / 10000000 % 1000 = $layer)
// the longest match wins, then the one with exact tokens nearest the firing token
WITH names, position, e.nid AS nid, e.end_activation AS activation, shape
ORDER BY size(shape) DESC, shape
WITH names, position, nid, collect({activation: activation, shape: shape})[0] AS best
WITH names, position, names[nid / 10000000000 - 1] AS model, nid / 10000000 % 1000 AS layer,
     nid % 10000000 AS neuron, best.activation AS activation, best.shape AS shape
WHERE activation >= $min_activation
WITH position, model, layer, neuron, activation, shape
ORDER BY position, activation DESC, model, layer, neuron
RETURN position, $tokens[position] AS token, collect(model) AS models, collect(layer) AS layers,
       collect(neuron) AS neurons, collect(activation) AS activations, collect(shape) AS shapes
ORDER BY position
