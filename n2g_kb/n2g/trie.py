"""The N2G trie: a neuron's activating tokens and the context they need.

Pure data and pure functions: no model, no files, no database.

Shape. The root's children are *firing tokens* (depth 1): tokens on which the neuron fired.
A node's children are the tokens one step further back in the text (depth 2, 3, ...):
either an important context token (kind ``token``) or an ``IGNORE`` wildcard (kind
``ignore``) standing for an unimportant token in between. A node whose
``end_activation`` is set ends a *pattern*: the path from the firing token back to it.

Building (``Trie.add_sample``) follows the reference implementation of Foote et al. (2023):

* Every token ``j`` whose normalised activation is ``> activation_threshold`` starts a
  pattern. The firing token itself is always a token node, whatever its own importance.
* Walking back from ``j``, token ``k`` becomes a token node when its importance for ``j``
  is ``> importance_threshold`` (or when ``k`` is listed in ``inherited_important[j]``: the
  reference also keeps positions that were important in the original, un-augmented
  example), otherwise an ``IGNORE`` node. Tokens in ``skip_tokens`` (the BOS token) are
  passed over, as the reference does.
* The pattern stops at the furthest-back important token; trailing ``IGNORE`` nodes are
  dropped. Its last node records ``end_activation`` = the activation of ``j``.
* Where the same node is reached again, values keep their maximum (the reference keeps
  the first value seen; the maximum does not depend on the order of the samples).

``Trie.merge_ignores`` (run once, after all samples) generalises as the reference does:
wherever a node has an ``IGNORE`` child, every token sibling hands its children over to
the ``IGNORE`` child (deep merge), and a sibling that ends no pattern itself is removed.

``Trie.predict`` walks back from every position; ``IGNORE`` matches any token. It
returns the ``end_activation`` of the longest matching complete pattern, else 0. Among
equally long matches the one that uses exact tokens earliest (nearest the firing token)
wins. ``greedy=True`` reproduces the reference walk instead: at each step take the exact
child if there is one, else the ``IGNORE`` child, and never backtrack.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from n2g_kb.errors import N2GKBError

IGNORE = "<IGNORE>"
"""Token text of wildcard nodes (kind ``ignore``). Reserved: no real token may be this."""

DEFAULT_SKIP_TOKENS: tuple[str, ...] = ("<|endoftext|>",)

NodeKind = Literal["root", "token", "ignore"]
ROW_KEYS = ("id", "parent", "kind", "token", "depth", "activation", "importance", "end_activation")


class TrieRowsError(N2GKBError, ValueError):
    """Stored trie rows do not describe one well-formed trie."""


MAX_TOKEN_BYTES = 4096
"""Longest token text (UTF-8 bytes) stored as is. Neo4j cannot index a property value of
more than about 8 KB, and token texts are indexed (Token.text, TrieNode.token), so a longer
token is stored under its `token_key`; its exact text stays in the neuron's examples."""


def token_key(text: str) -> str:
    """`text` when it fits `MAX_TOKEN_BYTES`, else its first 4,000 bytes, "…#" and 16 hex
    digits of its SHA-256: distinct long tokens keep distinct keys, and a key is its own key."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_TOKEN_BYTES:
        return text
    import hashlib

    prefix = raw[:4000].decode("utf-8", "ignore")
    return f"{prefix}\u2026#{hashlib.sha256(raw).hexdigest()[:16]}"


@lru_cache(maxsize=1 << 16)
def normalise_token(token: str) -> str:
    """Normalise a token the way the reference N2G does.

    1. A title-case token longer than one character is lower-cased
       (``str.istitle``: " Paris" -> " paris", "Hello-World" -> "hello-world";
       "PARIS", "McDonald" and the single letter "I" are left alone).
    2. A token longer than one character that holds at least one alphabetic character is
       stripped of surrounding whitespace (" paris" -> "paris", " PARIS" -> "PARIS").
    3. A text over `MAX_TOKEN_BYTES` becomes its `token_key` (so it can be indexed).

    Everything else keeps its exact text: " ,", "\\n", " 2019", "Ġ" and other byte-level
    characters. Note the reference quirk that " I" becomes "i" while "I" stays "I".
    """
    text = token.lower() if len(token) > 1 and token.istitle() else token
    if len(text) > 1 and any(c.isalpha() for c in text):
        text = text.strip()
    return token_key(text)


@dataclass(eq=False)
class TrieNode:
    """One node. ``children`` maps token text (``IGNORE`` for the wildcard) to the node
    one step further back in the text.

    ``activation`` is set on firing-token nodes (depth 1): the highest normalised
    activation seen on that token. ``importance`` is set on context token nodes
    (depth >= 2): the highest importance seen. ``end_activation`` is set where a pattern
    ends: the highest activation of the firing tokens of the patterns ending here.
    """

    token: str | None
    kind: NodeKind
    depth: int
    activation: float | None = None
    importance: float | None = None
    end_activation: float | None = None
    children: dict[str, TrieNode] = field(default_factory=dict)

    def sorted_children(self) -> list[TrieNode]:
        return [self.children[key] for key in sorted(self.children)]

    def same_values(self, other: TrieNode) -> bool:
        return (
            self.token == other.token
            and self.kind == other.kind
            and self.depth == other.depth
            and self.activation == other.activation
            and self.importance == other.importance
            and self.end_activation == other.end_activation
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrieNode):
            return NotImplemented
        return (
            self.same_values(other)
            and self.children.keys() == other.children.keys()
            and all(child == other.children[key] for key, child in self.children.items())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"TrieNode({self.kind}, {self.token!r}, depth={self.depth}, "
            f"children={len(self.children)})"
        )


def _max(current: float | None, new: float | None) -> float | None:
    if new is None:
        return current
    if current is None:
        return new
    return max(current, new)


def _take_max_values(target: TrieNode, source: TrieNode) -> None:
    target.activation = _max(target.activation, source.activation)
    target.importance = _max(target.importance, source.importance)
    target.end_activation = _max(target.end_activation, source.end_activation)


def _deep_merge_into(parent: TrieNode, source: TrieNode) -> None:
    """Merge a copy of ``source`` (and its subtree) into ``parent``'s children."""
    target = parent.children.get(source.token)  # type: ignore[arg-type]
    if target is None:
        target = TrieNode(source.token, source.kind, parent.depth + 1)
        parent.children[source.token] = target  # type: ignore[index]
    _take_max_values(target, source)
    for child in source.sorted_children():
        _deep_merge_into(target, child)


def important_positions(
    importances: Sequence[Sequence[float]], *, importance_threshold: float = 0.75
) -> list[set[int]]:
    """For each token ``j``, the earlier-or-equal positions ``k`` with importance above the
    threshold: ``importances[j][k] > importance_threshold`` for ``k <= j``.

    Pass the result for an original example as ``inherited_important`` when adding its
    augmented variants, as the reference does.
    """
    return [
        {k for k in range(min(j + 1, len(row))) if float(row[k]) > importance_threshold}
        for j, row in enumerate(importances)
    ]


class Trie:
    """The trie of one neuron (see the module docstring for its semantics)."""

    def __init__(self) -> None:
        self.root = TrieNode(None, "root", 0)

    # ----------------------------------------------------------------- building

    def add_sample(
        self,
        tokens: Sequence[str],
        activations: Sequence[float],
        importances: Sequence[Sequence[float]],
        *,
        activation_threshold: float = 0.5,
        importance_threshold: float = 0.75,
        inherited_important: Sequence[Collection[int]] | None = None,
        skip_tokens: Collection[str] = DEFAULT_SKIP_TOKENS,
        skip_positions: Collection[int] = (),
    ) -> None:
        """Add the patterns of one (pruned or augmented) example.

        ``tokens`` are raw token strings, ``activations`` the neuron's normalised
        activation on each, ``importances[j][k]`` the importance of token ``k`` for token
        ``j`` (only rows of firing tokens are read, and only ``k <= j``).
        ``inherited_important[j]`` optionally lists positions to treat as important for
        firing token ``j`` whatever their importance here (the reference passes the
        original example's important positions to its augmented variants; where ``j`` is
        past its end, the last entry is used, as in the reference).
        Tokens in ``skip_tokens`` and positions in ``skip_positions`` are passed over, as
        firing tokens and as context (n2g+ skips only the prepended BOS position, so a
        document separator inside a window is a token like any other).
        """
        n = len(tokens)
        if len(activations) != n:
            raise ValueError(f"sample has {n} tokens but {len(activations)} activations")
        if len(importances) != n:
            raise ValueError(f"sample has {n} tokens but {len(importances)} importance rows")
        for j in range(n):
            activation = float(activations[j])
            if not activation > activation_threshold or tokens[j] in skip_tokens or j in skip_positions:
                continue
            row = importances[j]
            if len(row) < j + 1:
                raise ValueError(
                    f"importance row {j} has {len(row)} entries; it needs at least {j + 1}"
                )
            inherited: Collection[int] = ()
            if inherited_important:
                inherited = inherited_important[min(j, len(inherited_important) - 1)]
            line: list[tuple[NodeKind, str, float | None]] = [
                ("token", normalise_token(tokens[j]), None)
            ]
            for k in range(j - 1, -1, -1):
                if tokens[k] in skip_tokens or k in skip_positions:
                    continue
                importance = float(row[k])
                if importance > importance_threshold or k in inherited:
                    line.append(("token", normalise_token(tokens[k]), importance))
                else:
                    line.append(("ignore", IGNORE, None))
            while line[-1][0] == "ignore":
                line.pop()
            self._insert(line, activation)

    def _insert(self, line: list[tuple[NodeKind, str, float | None]], activation: float) -> None:
        node = self.root
        for kind, token, importance in line:
            if kind == "token" and token == IGNORE:
                raise ValueError(f"the token text {IGNORE!r} is reserved for wildcard nodes")
            child = node.children.get(token)
            if child is None:
                child = TrieNode(token, kind, node.depth + 1)
                node.children[token] = child
            if child.depth == 1:
                child.activation = _max(child.activation, activation)
            elif kind == "token":
                child.importance = _max(child.importance, importance)
            node = child
        node.end_activation = _max(node.end_activation, activation)

    def merge_ignores(self) -> None:
        """Generalise over ``IGNORE`` siblings, breadth first, as the reference does.

        Where a node has an ``IGNORE`` child, each token sibling's children are merged
        into the ``IGNORE`` child; a sibling that ends no pattern is then removed (one that
        ends a pattern stays, with its children). Idempotent.
        """
        queue = [self.root]
        while queue:
            node = queue.pop(0)
            wildcard = node.children.get(IGNORE)
            if wildcard is not None:
                for key in sorted(node.children):
                    if key == IGNORE:
                        continue
                    sibling = node.children[key]
                    for grandchild in sibling.sorted_children():
                        _deep_merge_into(wildcard, grandchild)
                    if sibling.end_activation is None:
                        del node.children[key]
            queue.extend(node.sorted_children())

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[Sequence[str], Sequence[float], Sequence[Sequence[float]]]],
        *,
        activation_threshold: float = 0.5,
        importance_threshold: float = 0.75,
        merge: bool = True,
    ) -> Trie:
        """Build a trie from ``(tokens, activations, importances)`` samples, then merge
        ``IGNORE`` siblings (unless ``merge=False``)."""
        trie = cls()
        for tokens, activations, importances in samples:
            trie.add_sample(
                tokens,
                activations,
                importances,
                activation_threshold=activation_threshold,
                importance_threshold=importance_threshold,
            )
        if merge:
            trie.merge_ignores()
        return trie

    # --------------------------------------------------------------- prediction

    def predict(self, tokens: Sequence[str], *, greedy: bool = False) -> list[float]:
        """Predicted normalised activation at each position of ``tokens``."""
        normalised = [normalise_token(token) for token in tokens]
        search = self._search_greedy if greedy else self._search_longest
        return [search(normalised, i) for i in range(len(normalised))]

    def match(self, tokens: Sequence[str]) -> list[TrieNode | None]:
        """The node whose pattern ``predict`` reads at each position (the longest matching
        complete pattern), or None where no pattern matches."""
        normalised = [normalise_token(token) for token in tokens]
        return [self._longest_node(normalised, i) for i in range(len(normalised))]

    def _search_longest(self, tokens: list[str], end: int) -> float:
        node = self._longest_node(tokens, end)
        return 0.0 if node is None else node.end_activation  # type: ignore[return-value]

    def _longest_node(self, tokens: list[str], end: int) -> TrieNode | None:
        best_depth, best_node = 0, None
        # Depth-first, exact child before wildcard, so that among equally deep matches
        # the first found (the most exact, nearest the firing token) wins.
        stack: list[tuple[TrieNode, int]] = [(self.root, end)]
        while stack:
            node, position = stack.pop()
            if node.end_activation is not None and node.depth > best_depth:
                best_depth, best_node = node.depth, node
            if position < 0:
                continue
            wildcard = node.children.get(IGNORE)
            if wildcard is not None:
                stack.append((wildcard, position - 1))
            exact = node.children.get(tokens[position])
            if exact is not None and exact is not wildcard:
                stack.append((exact, position - 1))
        return best_node

    def _search_greedy(self, tokens: list[str], end: int) -> float:
        value = 0.0
        node = self.root
        for position in range(end, -1, -1):
            child = node.children.get(tokens[position]) or node.children.get(IGNORE)
            if child is None:
                break
            node = child
            if node.end_activation is not None:
                value = node.end_activation
        return value

    # ------------------------------------------------------------------ reading

    def nodes(self) -> Iterator[TrieNode]:
        """All nodes, depth first, children in token order, root first."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.sorted_children()))

    def firing_tokens(self) -> dict[str, float]:
        """Normalised firing token -> highest activation (the depth-1 nodes)."""
        return {
            child.token: child.activation
            for child in self.root.sorted_children()
            if child.token is not None and child.activation is not None
        }

    def context_tokens(self) -> dict[str, float]:
        """Normalised context token -> highest importance over all its token nodes."""
        found: dict[str, float] = {}
        for node in self.nodes():
            if node.kind == "token" and node.depth >= 2 and node.importance is not None:
                assert node.token is not None
                found[node.token] = max(found.get(node.token, node.importance), node.importance)
        return dict(sorted(found.items()))

    def patterns(self) -> list[tuple[list[str], float]]:
        """Each complete pattern as (tokens from the firing token backwards, with ``IGNORE``
        for wildcards; its end activation), depth first in token order."""
        found: list[tuple[list[str], float]] = []

        def walk(node: TrieNode, path: list[str]) -> None:
            if node.end_activation is not None:
                found.append((list(path), node.end_activation))
            for child in node.sorted_children():
                assert child.token is not None
                path.append(child.token)
                walk(child, path)
                path.pop()

        walk(self.root, [])
        return found

    @property
    def max_depth(self) -> int:
        return max(node.depth for node in self.nodes())

    def __len__(self) -> int:
        return sum(1 for _ in self.nodes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trie):
            return NotImplemented
        return self.root == other.root

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Trie({len(self)} nodes, {len(self.patterns())} patterns)"

    # ------------------------------------------------------------------- rows

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per node, depth first (children sorted by token text), ids 0..n-1 with
        the root as id 0. Keys: id, parent, kind, token, depth, activation, importance,
        end_activation."""
        rows: list[dict[str, Any]] = []
        stack: list[tuple[TrieNode, int | None]] = [(self.root, None)]
        while stack:
            node, parent = stack.pop()
            node_id = len(rows)
            rows.append(
                {
                    "id": node_id,
                    "parent": parent,
                    "kind": node.kind,
                    "token": node.token,
                    "depth": node.depth,
                    "activation": node.activation,
                    "importance": node.importance,
                    "end_activation": node.end_activation,
                }
            )
            stack.extend((child, node_id) for child in reversed(node.sorted_children()))
        return rows

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Trie:
        """Rebuild a trie from ``to_rows`` output, in any order.

        Missing value keys (activation, importance, end_activation, token, parent) read as
        None, since Neo4j does not store null properties. Raises ``TrieRowsError`` when
        the rows do not form one trie.
        """
        rows = list(rows)
        by_id: dict[Any, TrieNode] = {}
        parents: dict[Any, Any] = {}
        root_ids: list[Any] = []
        for row in rows:
            try:
                node_id, kind, depth = row["id"], row["kind"], int(row["depth"])
            except (KeyError, TypeError, ValueError) as e:
                raise _rows_error(f"a row lacks a usable id, kind or depth ({e!r})") from e
            if node_id in by_id:
                raise _rows_error(f"node id {node_id!r} appears twice")
            if kind not in ("root", "token", "ignore"):
                raise _rows_error(f"node {node_id!r} has unknown kind {kind!r}")
            token = row.get("token")
            if kind == "root":
                if token is not None or row.get("parent") is not None or depth != 0:
                    raise _rows_error("the root must have no token, no parent and depth 0")
                root_ids.append(node_id)
            elif not isinstance(token, str):
                raise _rows_error(f"node {node_id!r} ({kind}) has no token text")
            elif (kind == "ignore") != (token == IGNORE):
                raise _rows_error(f"node {node_id!r}: only 'ignore' nodes may carry {IGNORE!r}")
            by_id[node_id] = TrieNode(
                token,
                kind,
                depth,
                activation=_optional_float(row.get("activation")),
                importance=_optional_float(row.get("importance")),
                end_activation=_optional_float(row.get("end_activation")),
            )
            if kind != "root":
                parents[node_id] = row.get("parent")
        if len(root_ids) != 1:
            raise _rows_error(f"expected exactly one root row, found {len(root_ids)}")
        for node_id, parent_id in parents.items():
            parent = by_id.get(parent_id)
            node = by_id[node_id]
            if parent is None:
                raise _rows_error(f"node {node_id!r} points to missing parent {parent_id!r}")
            if node.depth != parent.depth + 1:
                raise _rows_error(f"node {node_id!r} has depth {node.depth}, parent {parent.depth}")
            if node.token in parent.children:
                raise _rows_error(f"parent {parent_id!r} has two children {node.token!r}")
            parent.children[node.token] = node  # type: ignore[index]
        trie = cls()
        trie.root = by_id[root_ids[0]]
        if len(trie) != len(rows):
            raise _rows_error("some rows are not connected to the root")
        return trie


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rows_error(detail: str) -> TrieRowsError:
    return TrieRowsError(
        f"stored trie rows are inconsistent: {detail}; re-extract this neuron to rewrite its trie"
    )
