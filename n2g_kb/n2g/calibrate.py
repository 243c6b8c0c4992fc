"""The n2g+ prediction rules: a context-free back-off, and pattern values set on the
training split.

Both work on a built trie and the neuron's training windows (tokens and normalised
activations); nothing here sees test data.

* ``add_backoff``: every token that fires (normalised activation > ``activation_threshold``)
  somewhere in the training windows ends a context-free pattern: its depth-1 node gets an
  ``end_activation`` (created when the token had no node). ``Trie.predict`` reads the
  longest matching complete pattern, so this pattern only speaks where no pattern with
  context matches: it is the back-off. Its first value is the token's mean activation
  over its firing training positions; ``calibrate`` then replaces it.
* ``calibrate``: runs the trie over the training windows and, for each pattern, gathers
  the true activations at the positions it decides (where it is the longest match). A
  pattern with at least ``min_precision`` of those positions firing (>= ``fire_threshold``)
  predicts firing, with the mean activation of its firing positions; otherwise it predicts
  the mean activation of its non-firing positions (below the threshold). With ``prior`` > 0
  the share is smoothed towards the token's firing rate over all its training positions,
  as if ``prior`` more positions fired at that rate (a pattern seen once does not overrule
  what its token usually does). Patterns that decide no training position keep their value.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from n2g_kb.n2g.trie import Trie, TrieNode, normalise_token


def add_backoff(
    trie: Trie,
    tokens: Sequence[Sequence[str]],
    activations: Sequence[Sequence[float]],
    *,
    activation_threshold: float = 0.5,
    skip_tokens: Collection[str] = (),
    prior_token: bool = False,
) -> int:
    """Give every firing training token a context-free pattern; returns how many depth-1
    nodes gained one."""
    firing: dict[str, list[float]] = {}
    for toks, acts in zip(tokens, activations, strict=True):
        for j, (token, act) in enumerate(zip(toks, acts, strict=True)):
            if float(act) > activation_threshold and token not in skip_tokens:
                firing.setdefault(normalise_token(token), []).append(float(act))
                if prior_token and j > 0:
                    trie._insert(
                        [("token", normalise_token(token), None), ("token", normalise_token(toks[j - 1]), None)], float(act)
                    )
    added = 0
    for token, values in sorted(firing.items()):
        node = trie.root.children.get(token)
        if node is None:
            node = TrieNode(token, "token", 1)
            trie.root.children[token] = node
        node.activation = max(values) if node.activation is None else max(node.activation, max(values))
        if node.end_activation is None:
            node.end_activation = sum(values) / len(values)
            added += 1
    return added


def calibrate(
    trie: Trie,
    tokens: Sequence[Sequence[str]],
    activations: Sequence[Sequence[float]],
    *,
    fire_threshold: float = 0.5,
    min_precision: float = 0.5,
    prior: float = 0.0,
) -> int:
    """Set each pattern's value from the training positions it decides (see the module
    docstring); returns how many patterns were set."""
    decided: dict[int, tuple[TrieNode, str, list[float]]] = {}
    seen: dict[str, list[float]] = {}  # token's training positions, each class: [count, sum]
    for toks, acts in zip(tokens, activations, strict=True):
        for token, node, act in zip(toks, trie.match(toks), acts, strict=True):
            key = normalise_token(token)
            value = float(act)
            stats = seen.setdefault(key, [0.0, 0.0, 0.0, 0.0])  # firing n, firing sum, quiet n, quiet sum
            side = 0 if value >= fire_threshold else 2
            stats[side] += 1
            stats[side + 1] += value
            if node is not None:
                decided.setdefault(id(node), (node, key, []))[2].append(value)
    for node, key, truths in decided.values():
        fires = [t for t in truths if t >= fire_threshold]
        quiet = [t for t in truths if t < fire_threshold]
        n_fire, sum_fire, n_quiet, sum_quiet = seen[key]
        rate = n_fire / (n_fire + n_quiet)
        if len(fires) + prior * rate >= min_precision * (len(truths) + prior):
            node.end_activation = sum(fires) / len(fires) if fires else sum_fire / n_fire
        else:
            node.end_activation = sum(quiet) / len(quiet) if quiet else sum_quiet / n_quiet
    return len(decided)
