"""What the library queries need, computed from one neuron's trie at write time (pure).

Both write paths (Bolt `write/neurons` and the bulk import of `n2g_kb.kb.bulk`) store
exactly these values, so the graph is the same either way. Everything here depends on
one neuron only: re-ingesting or removing a neuron replaces or removes its values with
its own nodes, inside the same transaction, and no shared list can go stale.

Per trie node (row):
  fire       on context nodes (depth 2 and more, wildcards aside): the firing token of the
             node's branch (the token of its depth-1 ancestor)
  rank       on context nodes (wildcards aside): minus the highest end_activation in the
             node's subtree (itself included), or None when no pattern completes at or below
             it; indexed with `fire` and `token` so query/context reads the strongest
             completions first (a context that starts with a wildcard is read from its first
             token, so wildcard nodes need no entries in that index)
  fire_rank  on firing-token (depth-1) nodes: minus the firing activation (query/fires_on)
  pkey       on pattern-end nodes: the pattern as one string (`pattern_key`), firing token
             first, going back in the text, wildcards as ``\\*`` (query/fire, last_token)
Per neuron:
  firing, context      sorted firing / context token texts (similar, supersets)
  context_importance   each context token's importance, in the order of `context`, only
                       where the trie does not give it: the readers take a context token's
                       importance as the highest of its context nodes' (Trie.context_tokens;
                       the CONTEXT edges carry none: one property record per edge cost more
                       than the whole array)
  firing_key           `pattern_key(firing)`: supersets finds subsets by key
  n_tokens             len(firing) + len(context): query/similar's bound
  n_groups, group_sizes, context_free   query/polysemantic's groups (sorted, each one's
                       tokens sorted), and their tokens as
  firing_groups        each firing token's group number (from 0), in the order of `firing`
                       (numbers take a few bytes inline where the token texts took an array
                       record), or, where the groups' tokens are not exactly `firing`,
  group_tokens         all groups' tokens, group after group
  repeat_tokens, repeat_distances                      query/repetition (-1: not in one pattern)
  shapes               the wildcard masks of its patterns (`mask`), e.g. '0', '010'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from n2g_kb.n2g.trie import IGNORE

SEPARATOR = "|"
WILDCARD = "\\*"
"""A wildcard inside a pattern key: backslash and star, which no escaped token can be
(`escape` puts a backslash only before another backslash or a '|'), and 6 characters
shorter than <IGNORE>: more keys fit in their node's property record."""
NEURON_FIELDS = (
    "firing", "context", "context_importance", "firing_key", "n_tokens", "n_groups", "firing_groups", "group_tokens", "group_sizes",
    "context_free",
    "repeat_tokens", "repeat_distances",
)
"""The Neuron properties written from `neuron_values` (not metrics)."""


def escape(token: str) -> str:
    """A token as it appears inside a pattern key: backslash and '|' escaped."""
    return token.replace("\\", "\\\\").replace(SEPARATOR, "\\" + SEPARATOR)


def pattern_key(tokens: Iterable[str]) -> str:
    """Tokens joined into one unambiguous string, wildcards as `WILDCARD` (the same rule as
    query/fire's Cypher)."""
    return SEPARATOR.join(WILDCARD if t == IGNORE else escape(t) for t in tokens)


def mask(tokens: Sequence[str]) -> str:
    """'1' where a pattern has a wildcard, '0' where it has an exact token."""
    return "".join("1" if t == IGNORE else "0" for t in tokens)


def candidate_key(back: Sequence[str], shape: str) -> str | None:
    """The key a pattern of this shape would have if it matched `back` (the text read
    backwards from a position), or None when the text is too short."""
    if len(shape) > len(back):
        return None
    return pattern_key(IGNORE if m == "1" else back[i] for i, m in enumerate(shape))


def node_values(rows: Sequence[Mapping[str, Any]], firing: Mapping[str, float]) -> list[dict[str, Any]]:
    """fire, rank, fire_rank, pkey for each row (in the same order as `rows`)."""
    by_id = {row["id"]: row for row in rows}
    children: dict[Any, list[Any]] = {}
    for row in rows:
        if row.get("parent") is not None:
            children.setdefault(row["parent"], []).append(row["id"])
    key: dict[Any, str] = {}  # the pattern key of the path down to a node (root: none)
    fire: dict[Any, str] = {}  # the firing token of a node's branch
    depth: dict[Any, int] = {}  # tokens on the path down to a node
    best: dict[Any, float | None] = {}

    order: list[Any] = []  # parents before children
    stack = [row["id"] for row in rows if row.get("parent") is None]
    seen: set[Any] = set()
    while stack:  # malformed rows (a cycle, a duplicate id) are left to the database to refuse
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        stack.extend(children.get(node, ()))
    for node in order:  # each key from its parent's: no path is copied
        row = by_id[node]
        parent = row.get("parent")
        if parent is None:
            depth[node] = 0
            continue
        token = row["token"]
        part = WILDCARD if token == IGNORE else escape(token)
        up = depth.get(parent, 0)
        depth[node] = up + 1
        if up:
            key[node] = key[parent] + SEPARATOR + part
            fire[node] = fire[parent]
        else:
            key[node] = part
            fire[node] = token
    for node in reversed(order):
        row = by_id[node]
        values = [best[c] for c in children.get(node, ()) if best.get(c) is not None]
        if row.get("end_activation") is not None:
            values.append(row["end_activation"])
        best[node] = max(values) if values else None

    out = []
    for row in rows:
        node = row["id"]
        d = depth.get(node, 0)
        depth1 = row.get("depth") == 1
        context = d > 1 and row.get("token") != IGNORE  # wildcards: no index entry (none is read)
        out.append(
            {
                "fire": fire[node] if context else None,
                "rank": -best[node] if context and best.get(node) is not None else None,
                "fire_rank": -float(firing[row["token"]]) if depth1 and row.get("token") in firing else None,
                "pkey": key[node] if d and row.get("end_activation") is not None else None,
            }
        )
    return out


def neuron_values(
    rows: Sequence[Mapping[str, Any]], firing: Mapping[str, float], context: Mapping[str, float]
) -> dict[str, Any]:
    """The per-neuron values (see the module docstring)."""
    by_id = {row["id"]: row for row in rows}
    children: dict[Any, list[Any]] = {}
    for row in rows:
        if row.get("parent") is not None:
            children.setdefault(row["parent"], []).append(row["id"])

    memo: dict[Any, bool] = {}

    def can_complete(node: Any) -> bool:
        if node not in memo:
            memo[node] = False  # guards a cycle in malformed rows
            memo[node] = by_id[node].get("end_activation") is not None or any(
                can_complete(c) for c in children.get(node, ())
            )
        return memo[node]

    roots = [row["id"] for row in rows if row.get("parent") is None]
    firing_nodes = [c for r in roots for c in children.get(r, ())]
    shapes: set[str] = set()
    items = []  # (firing token, context tokens that can complete)
    repeat_distance: dict[str, int] = {}
    for f in firing_nodes:
        token = by_id[f]["token"]
        found: set[str] = set()
        stack = [(f, [token])]
        visited: set[Any] = set()
        while stack:
            node, path = stack.pop()
            if node in visited:
                continue
            visited.add(node)
            row = by_id[node]
            if row.get("end_activation") is not None:
                shapes.add(mask(path))
            for c in children.get(node, ()):
                child = by_id[c]
                if child.get("kind") == "token" and can_complete(c):
                    found.add(child["token"])
                    if child["token"] == token:
                        d = int(child["depth"]) - 1
                        repeat_distance[token] = min(repeat_distance.get(token, d), d)
                stack.append((c, [*path, child["token"]]))
        items.append((token, found))
    # connected components over shared context (order does not matter)
    groups: list[tuple[set[str], set[str]]] = []
    for token, ctx in items:
        tokens, merged = {token}, set(ctx)
        for g in [g for g in groups if g[1] & merged]:
            groups.remove(g)
            tokens |= g[0]
            merged |= g[1]
        groups.append((tokens, merged))
    ordered = sorted(sorted(g[0]) for g in groups)
    firing_sorted = sorted(firing)
    repeats = sorted(set(firing) & set(context))
    # a context token's importance as the readers take it from the trie: the highest of its
    # context nodes' (depth 2 and more)
    from_trie: dict[str, float] = {}
    for row in rows:
        if row.get("kind") == "token" and (row.get("depth") or 0) >= 2 and row.get("importance") is not None:
            from_trie[row["token"]] = max(from_trie.get(row["token"], row["importance"]), row["importance"])
    importance = [float(context[t]) for t in sorted(context)]
    member = {t: g for g, tokens in enumerate(ordered) for t in tokens}
    exact_groups = sorted(t for g in ordered for t in g) == firing_sorted
    return {
        "firing": firing_sorted,
        "context": sorted(context),
        "context_importance": None if importance == [from_trie.get(t) for t in sorted(context)] else importance,
        "firing_key": pattern_key(firing_sorted),
        "n_tokens": len(firing) + len(context),
        "n_groups": len(ordered),
        "firing_groups": [member[t] for t in firing_sorted] if exact_groups else None,
        "group_tokens": None if exact_groups else [t for g in ordered for t in g],
        "group_sizes": [len(g) for g in ordered],
        "context_free": sum(1 for _, ctx in items if not ctx),
        "repeat_tokens": repeats,
        "repeat_distances": [repeat_distance.get(t, -1) for t in repeats],
        "shapes": sorted(shapes),
    }
