"""Drawing a neuron's trie: the paper's condensed graph, and a one-line-per-pattern text.

The graph reads left to right in text order: context on the left, the firing token on the
right, arrows pointing from earlier tokens to later ones. Firing tokens are red, more
saturated the higher their activation; context tokens are blue, more saturated the higher
their importance; ``IGNORE`` wildcards are grey, dashed, labelled ``*``. Nodes that end a
pattern have a thick border. As in the paper's view, nodes with the same token at the same
distance from the firing token are drawn once, so shared context collapses.

Building the ``graphviz.Digraph`` (and its ``.source``) needs only the Python package;
turning it into SVG/PNG needs Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import graphviz

from n2g_kb.errors import N2GKBError
from n2g_kb.n2g.trie import IGNORE, Trie, TrieNode

IGNORE_FILL = "#e0e0e0"
IGNORE_LABEL = "*"
TEXT_ORDER_WILDCARD = "…"
SOURCE_SUFFIXES = {".dot", ".gv"}


class GraphvizMissingError(N2GKBError):
    """The Graphviz ``dot`` program is not installed."""


@dataclass
class _ViewNode:
    graph_id: str
    depth: int
    kind: str
    token: str
    activation: float | None = None
    importance: float | None = None
    ends: bool = False


def _scale(value: float | None, floor: float) -> float:
    """0..1 saturation: ``floor`` and below -> 0, 1 and above -> 1."""
    if value is None:
        return 0.0
    return min(1.0, max(0.0, (value - floor) / (1.0 - floor)))


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def firing_colour(activation: float | None, floor: float = 0.3) -> str:
    """White-to-red fill for a firing token."""
    s = 255 * _scale(activation, floor)
    return _hex((255, 255 - s, 255 - s))


def context_colour(importance: float | None, floor: float = 0.55) -> str:
    """White-to-blue fill for a context token."""
    s = 255 * _scale(importance, floor)
    return _hex((255 - s, 255 - s, 255))


def display_token(token: str) -> str:
    """Readable token text: control and other invisible characters shown as escapes
    (newline as ``\\n``); a token with no visible character is put in single quotes."""
    shown = "".join(_visible(c) for c in token)
    visible = any(c != " " and _visible(c) == c for c in token)
    return shown if visible else f"'{shown}'"


def _visible(c: str) -> str:
    if c == " ":
        return c
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    if c == "\r":
        return "\\r"
    if unicodedata.category(c)[0] in ("C", "Z"):
        return f"\\u{ord(c):04x}"
    return c


def _condense(
    trie: Trie, show_ignores: bool
) -> tuple[list[_ViewNode], dict[tuple[str, str], bool]]:
    """Collapse the trie to view nodes keyed by (depth, kind, token); edges map
    (parent id, child id) -> whether every occurrence jumped over hidden wildcards."""
    nodes: dict[tuple[int, str, str], _ViewNode] = {}
    edges: dict[tuple[str, str], bool] = {}
    stack: list[tuple[TrieNode, _ViewNode | None, bool]] = [
        (child, None, False) for child in reversed(trie.root.sorted_children())
    ]
    while stack:
        node, parent, jumped = stack.pop()
        assert node.token is not None
        if node.kind == "ignore" and not show_ignores:
            stack.extend((c, parent, True) for c in reversed(node.sorted_children()))
            continue
        depth = 1 if parent is None else parent.depth + 1
        key = (depth, node.kind, node.token)
        view = nodes.get(key)
        if view is None:
            view = _ViewNode(f"n{len(nodes)}", depth, node.kind, node.token)
            nodes[key] = view
        if node.activation is not None:
            view.activation = max(node.activation, view.activation or node.activation)
        if node.importance is not None:
            view.importance = max(node.importance, view.importance or node.importance)
        view.ends = view.ends or node.end_activation is not None
        if parent is not None:
            pair = (parent.graph_id, view.graph_id)
            edges[pair] = edges.get(pair, True) and jumped
        stack.extend((c, view, False) for c in reversed(node.sorted_children()))
    return list(nodes.values()), edges


def render_trie(
    trie: Trie,
    title: str = "",
    *,
    show_ignores: bool = True,
    activation_floor: float = 0.3,
    importance_floor: float = 0.55,
) -> graphviz.Digraph:
    """The condensed graph of ``trie`` as a ``graphviz.Digraph``.

    ``show_ignores=False`` hides wildcard nodes as the paper's figures do; an edge that
    jumps over hidden wildcards is dashed. Colour saturation starts at
    ``activation_floor`` / ``importance_floor`` (defaults: the paper's thresholds minus 0.2).
    """
    graph = graphviz.Digraph(
        name="trie",
        graph_attr={"rankdir": "RL", "ranksep": "0.6", "nodesep": "0.2"},
        node_attr={"shape": "box", "fontname": "Helvetica", "penwidth": "1.5"},
        edge_attr={"dir": "back", "penwidth": "1.5"},
    )
    if title:
        graph.attr(label=graphviz.escape(title), labelloc="t", fontname="Helvetica")
    nodes, edges = _condense(trie, show_ignores)
    by_depth: dict[int, list[_ViewNode]] = {}
    for view in nodes:
        by_depth.setdefault(view.depth, []).append(view)
    for depth in sorted(by_depth):
        with graph.subgraph(name=f"depth_{depth}") as rank:
            rank.attr(rank="same")
            for view in by_depth[depth]:
                rank.node(view.graph_id, **_node_attrs(view, activation_floor, importance_floor))
    for (parent, child), jumped in edges.items():
        if jumped:
            graph.edge(parent, child, style="dashed")
        else:
            graph.edge(parent, child)
    return graph


def _node_attrs(
    view: _ViewNode, activation_floor: float, importance_floor: float
) -> dict[str, str]:
    border = "4" if view.ends else "1.5"
    if view.kind == "ignore":
        return {
            "label": IGNORE_LABEL,
            "fillcolor": IGNORE_FILL,
            "style": "filled,dashed",
            "color": "#808080",
            "penwidth": border,
            "tooltip": "any token",
        }
    if view.depth == 1:
        fill = firing_colour(view.activation, activation_floor)
        font = "black"
        tip = f"fires: {view.activation:.2f}" if view.activation is not None else "fires"
    else:
        fill = context_colour(view.importance, importance_floor)
        font = "white" if _scale(view.importance, importance_floor) > 0.5 else "black"
        tip = f"importance: {view.importance:.2f}" if view.importance is not None else "context"
    return {
        "label": graphviz.escape(display_token(view.token)),
        "fillcolor": fill,
        "fontcolor": font,
        "style": "filled",
        "penwidth": border,
        "tooltip": tip,
    }


def trie_to_text(trie: Trie) -> str:
    """One line per pattern in text order, strongest first, e.g. ``in … paris  → 0.93``
    (``…`` stands for any one token)."""
    patterns = trie.patterns()
    if not patterns:
        return "(no patterns)"
    lines = []
    for tokens, activation in sorted(patterns, key=lambda p: (-p[1], p[0])):
        words = [
            TEXT_ORDER_WILDCARD if t == IGNORE else _text_token(t) for t in reversed(tokens)
        ]
        lines.append((" ".join(words), activation))
    width = max(len(text) for text, _ in lines)
    return "\n".join(f"{text.ljust(width)}  → {activation:.2f}" for text, activation in lines)


def _text_token(token: str) -> str:
    if token and token == token.strip() and all(_visible(c) == c for c in token):
        return token
    return f"'{''.join(_visible(c) for c in token)}'"


def _require_dot() -> None:
    if shutil.which("dot") is None:
        raise GraphvizMissingError(
            "Graphviz's 'dot' program is not installed, so the graph cannot be drawn as an "
            "image; install it (Debian/Ubuntu: `apt-get install graphviz`, macOS: "
            "`brew install graphviz`) or write the .dot source instead"
        )


def render_bytes(graph: graphviz.Digraph, fmt: str = "svg") -> bytes:
    """Draw ``graph`` with ``dot`` into ``fmt`` (svg, png, pdf, ...)."""
    _require_dot()
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:  # pragma: no cover - raced removal
        raise GraphvizMissingError(
            "Graphviz's 'dot' program could not be run; install it (`apt-get install graphviz`)"
        ) from e


def write_graph(graph: graphviz.Digraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path``; the suffix picks the format. ``.dot``/``.gv`` write
    the source and need no Graphviz install; anything else (``.svg``, ``.png``, ``.pdf``)
    is drawn by ``dot``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SOURCE_SUFFIXES:
        path.write_text(graph.source, encoding="utf-8")
    else:
        if not suffix:
            raise ValueError(f"cannot tell the image format of {path}: give it a suffix")
        path.write_bytes(render_bytes(graph, suffix.lstrip(".")))
    return path
