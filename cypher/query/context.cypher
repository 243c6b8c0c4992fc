// n2g-kb: neurons that fire on a token in a given context (path-aware)
//
// Answers: which neurons have a complete pattern that fires on TOKEN and holds the
// CONTEXT tokens in that same pattern. In trie terms: a path root -> a -> ... -> b where
// a is the depth-1 node of TOKEN, the last size($context) nodes of the path spell the
// context backwards (b is the context token furthest back), and the path can complete:
// b itself or a node below b ends a pattern (has end_activation). A context token that
// belongs to another pattern of the same neuron does not count; query/context_loose
// (neuron-level token sets) would wrongly count it.
//
// Parameters:
//   $token     the firing token, normalised (' Paris' -> 'paris'; see n2g_kb.n2g.trie.normalise_token)
//   $context   non-empty list of normalised context tokens in text order, consecutive in
//              the pattern, the last one nearest the firing token: ['to'], ['capital', 'of'].
//              '<IGNORE>' matches only wildcard nodes; a wildcard never matches a given token.
//   $distance  positions between the firing token and the last context token (1 = right
//              before it), or null for any distance
//   $model     model name, or null for every model
//   $layer     layer number, or null for every layer
//   $limit     at most this many rows (the strongest), or null for all
//
// Returns one row per neuron, strongest completion first:
//   model, layer, neuron, token, context, distance (the smallest found), activation (of the
//   firing token), end_activation (the strongest completion through the context),
//   pattern (that completion in text order, '<IGNORE>' for wildcards)
//
// Neo4j Browser: run these :param lines first (one per parameter, so integers stay integers):
// :param token => 'paris'
// :param context => ['to']
// :param distance => null
// :param model => null
// :param layer => null
// :param limit => 50

// How. Each context node (depth 2 and more; wildcards aside) carries the firing token of its
// branch (fire) and minus the strongest end_activation at or below it (rank, null where
// nothing completes). The trie_context_nid index holds (fire, token, rank, nid), nid being
// the neuron's number, (model number * 1000 + layer) * 10000000 + index, the model number
// the model's place in the KnowledgeBase node's list `models`, from 1. The node b of the
// context token furthest back, $context[0], comes out of it strongest first. The nodes
// above b lead up to the firing token's node a (depth 1: a token without `fire`); the
// context is spelled by the size($context) nodes that end in b, and the distance is b's
// depth minus size($context) (a trie node's depth is the length of its path from the root).
// Wildcard nodes carry neither fire nor rank (so the index holds no entries for them): a
// context that starts with wildcards is found from its first token (or, with wildcards
// only, from the firing token's node) and the wildcards below it.
OPTIONAL MATCH (kb:KnowledgeBase {name: 'n2g-kb'})
WITH coalesce(kb.models, []) AS names
WITH names, [i IN range(0, size(names) - 1) WHERE names[i] = $model][0] + 1 AS number,
     [i IN range(0, size($context) - 1) WHERE $context[i] <> '<IGNORE>'][0] AS lead
CALL (number, lead) {
  // A. $context[0] is a token. 1. Which neurons: DISTINCT + LIMIT stops after $limit of them.
  WITH number, lead WHERE lead = 0
  CALL (number) {
    MATCH (b:TrieNode)
    USING INDEX b:TrieNode(fire, token, rank, nid)
    WHERE b.fire = $token AND b.token = $context[0] AND b.rank IS NOT NULL AND b.nid IS NOT NULL
      AND ($model IS NULL OR b.nid / 10000000000 = number)
      AND ($layer IS NULL OR b.nid / 10000000 % 1000 = $layer)
      AND (size($context) = 1 AND $distance IS NULL OR EXISTS {
        MATCH u = (a:TrieNode)-[:NEXT*]->(b)
        WHERE a.fire IS NULL AND a.token <> '<IGNORE>' AND length(u) >= size($context)
          AND [x IN nodes(u)[-size($context)..] | x.token] = reverse($context)
          AND ($distance IS NULL OR length(u) + 1 - size($context) = $distance)
      })
    WITH b ORDER BY b.fire, b.token, b.rank, b.nid
    WITH DISTINCT b.nid AS nid
    LIMIT coalesce($limit, 1000000000)
    RETURN collect(nid) AS chosen
  }
  // 2. The rank at which the last chosen neuron first came out of the index: no chosen
  //    neuron's strongest b has a higher rank (the same index rows, read up to that neuron).
  CALL (chosen) {
    MATCH (b:TrieNode)
    USING INDEX b:TrieNode(fire, token, rank, nid)
    WHERE b.fire = $token AND b.token = $context[0] AND b.rank IS NOT NULL
      AND b.nid = chosen[-1]
      AND (size($context) = 1 AND $distance IS NULL OR EXISTS {
        MATCH u = (a:TrieNode)-[:NEXT*]->(b)
        WHERE a.fire IS NULL AND a.token <> '<IGNORE>' AND length(u) >= size($context)
          AND [x IN nodes(u)[-size($context)..] | x.token] = reverse($context)
          AND ($distance IS NULL OR length(u) + 1 - size($context) = $distance)
      })
    WITH b ORDER BY b.fire, b.token, b.rank, b.nid
    RETURN b.rank AS last
    LIMIT 1
  }
  // 3. The chosen neurons' b's up to that rank
  CALL (chosen, last) {
    MATCH (b:TrieNode)
    USING INDEX b:TrieNode(fire, token, rank, nid)
    WHERE b.fire = $token AND b.token = $context[0] AND b.rank <= last
      AND b.nid IS NOT NULL AND b.nid IN chosen
      AND (size($context) = 1 AND $distance IS NULL OR EXISTS {
        MATCH u = (a:TrieNode)-[:NEXT*]->(b)
        WHERE a.fire IS NULL AND a.token <> '<IGNORE>' AND length(u) >= size($context)
          AND [x IN nodes(u)[-size($context)..] | x.token] = reverse($context)
          AND ($distance IS NULL OR length(u) + 1 - size($context) = $distance)
      })
    RETURN b
  }
  RETURN b, b.rank AS rank
  UNION ALL
  // B. $context starts with wildcards: from the node of its first token (fire, token index)
  //    or, with wildcards only, from the firing token's node (token, fire_rank index), down
  //    to b through the wildcards; b's rank is read below it, and the neurons are chosen
  //    after all their b's are found.
  WITH number, lead WHERE lead IS NULL OR lead > 0
  CALL (number, lead) {
    UNWIND CASE WHEN lead IS NOT NULL THEN [lead] ELSE [] END AS below
    MATCH (top:TrieNode)
    USING INDEX top:TrieNode(fire, token, rank, nid)
    WHERE top.fire = $token AND top.token = $context[below] AND top.rank IS NOT NULL AND top.nid IS NOT NULL
      AND ($model IS NULL OR top.nid / 10000000000 = number)
      AND ($layer IS NULL OR top.nid / 10000000 % 1000 = $layer)
    RETURN top, below
    UNION ALL
    UNWIND CASE WHEN lead IS NULL THEN [size($context)] ELSE [] END AS below
    MATCH (top:TrieNode)
    USING INDEX top:TrieNode(token, fire_rank, nid)
    WHERE top.token = $token AND top.fire_rank IS NOT NULL AND top.nid IS NOT NULL
      AND ($model IS NULL OR top.nid / 10000000000 = number)
      AND ($layer IS NULL OR top.nid / 10000000 % 1000 = $layer)
    RETURN top, below
  }
  // (with wildcards only, they may sit anywhere below the firing token's node)
  MATCH w = (top)-[:NEXT*]->(b:TrieNode)
  WHERE (length(w) = below OR lead IS NULL AND length(w) > below)
    AND all(y IN nodes(w)[-below..] WHERE y.token = '<IGNORE>')
  CALL (b) {
    MATCH (b)-[:NEXT*0..]->(e:TrieNode)
    WHERE e.end_activation IS NOT NULL
    RETURN max(e.end_activation) AS strongest
  }
  WITH b, strongest
  WHERE strongest IS NOT NULL AND EXISTS {
    MATCH u = (a:TrieNode)-[:NEXT*]->(b)
    WHERE a.fire IS NULL AND a.token <> '<IGNORE>' AND length(u) >= size($context)
      AND [x IN nodes(u)[-size($context)..] | x.token] = reverse($context)
      AND ($distance IS NULL OR length(u) + 1 - size($context) = $distance)
  }
  WITH b, -strongest AS rank ORDER BY rank, b.nid
  WITH collect({b: b, rank: rank}) AS found
  WITH found, reduce(s = [], f IN found | CASE WHEN f.b.nid IN s THEN s ELSE s + f.b.nid END) AS neurons
  UNWIND [f IN found WHERE f.b.nid IN neurons[..coalesce($limit, 1000000000)]] AS f
  RETURN f.b AS b, f.rank AS rank
}
WITH names[b.nid / 10000000000 - 1] AS model, b.nid / 10000000 % 1000 AS layer, b.nid % 10000000 AS neuron,
     min(rank) AS rank, collect({b: b, rank: rank}) AS found
UNWIND [f IN found WHERE f.rank = rank | f.b] AS b
// 4. The pattern: up from b to its neuron's firing-token node a, and down from b through
//    nodes of the same rank only (they lead to the completion that gives b its rank; a
//    wildcard carries none) to the pattern end e; among equals the shortest pattern, then
//    the nearest b.
MATCH p = (a:TrieNode)-[:NEXT*]->(b)
WHERE a.fire IS NULL AND a.token <> '<IGNORE>'
MATCH q = (b)-[:NEXT*0..]->(e:TrieNode)
WHERE all(x IN nodes(q) WHERE x.rank IS NULL OR x.rank = rank) AND e.end_activation = -rank
WITH model, layer, neuron, a, e.end_activation AS end_activation, length(p) + 1 AS depth,
     reverse([x IN nodes(p) + tail(nodes(q)) | x.token]) AS pattern
ORDER BY size(pattern), depth
WITH model, layer, neuron, a, end_activation, min(depth) AS depth, collect(pattern)[0] AS pattern
// 5. The smallest distance: a weaker b of the context may sit nearer the firing token; only
//    without $distance, and only above the strongest b's depth, is a's subtree walked for one.
CALL (a, depth) {
  WITH a, depth
  WHERE $distance IS NULL AND depth > size($context) + 1
  MATCH p = (a)-[:NEXT*]->(b:TrieNode)
  WHERE length(p) + 1 < depth AND length(p) >= size($context) AND b.token = $context[0]
    AND [x IN nodes(p)[-size($context)..] | x.token] = reverse($context)
    AND (b.rank IS NOT NULL OR EXISTS { MATCH (b)-[:NEXT*0..]->(e:TrieNode) WHERE e.end_activation IS NOT NULL })
  RETURN min(length(p) + 1) AS shallower
}
// the firing activation: minus a's fire_rank (a knowledge base written before it was dropped
// also holds it as a.activation)
RETURN model, layer, neuron, a.token AS token, $context AS context,
       coalesce(shallower, depth) - size($context) AS distance,
       coalesce(a.activation, -a.fire_rank) AS activation, end_activation, pattern
ORDER BY end_activation DESC, model, layer, neuron
