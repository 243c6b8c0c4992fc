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

import html
import shutil
from dataclasses import dataclass
from pathlib import Path

import graphviz

from n2g_kb.errors import N2GKBError
from n2g_kb.n2g.trie import IGNORE, Trie, TrieNode
from n2g_kb.views.tokens import display_token

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
    legend: bool = True,
    grid_columns: int = 6,
) -> graphviz.Digraph:
    """The condensed graph of ``trie`` as a ``graphviz.Digraph``.

    ``show_ignores=False`` hides wildcard nodes as the paper's figures do; an edge that
    jumps over hidden wildcards is dashed. Colour saturation starts at
    ``activation_floor`` / ``importance_floor`` (defaults: the paper's thresholds minus 0.2).
    Firing tokens show their activation, context tokens their importance. Firing tokens
    that need no context (patterns of one token) are drawn together as one table,
    strongest first, ``grid_columns`` to a row, instead of one tall column. ``legend``
    adds a key to the colours and borders.
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
    parents = {parent for parent, _ in edges}
    alone = [v for v in nodes if v.depth == 1 and v.graph_id not in parents and v.kind == "token"]
    if len(alone) < 2:
        alone = []
    if alone:
        graph.node("context_free", **_grid_attrs(alone, activation_floor, grid_columns))
    alone_ids = {v.graph_id for v in alone}
    by_depth: dict[int, list[_ViewNode]] = {}
    for view in nodes:
        if view.graph_id not in alone_ids:
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
    if legend and nodes:
        graph.node("legend", **_legend_attrs(show_ignores))
    return graph


def _cell(text: str, fill: str, bold: bool) -> str:
    label = html.escape(text)
    return f'<TD BGCOLOR="{fill}" BORDER="{3 if bold else 1}">{label}</TD>'


def _grid_attrs(views: list[_ViewNode], floor: float, columns: int) -> dict[str, str]:
    """One table node for the firing tokens that fire without context, strongest first."""
    ranked = sorted(views, key=lambda v: (-(v.activation or 0.0), v.token))
    rows = []
    for start in range(0, len(ranked), max(1, columns)):
        cells = [
            _cell(f"{display_token(v.token)} {v.activation:.2f}" if v.activation is not None else display_token(v.token),
                  firing_colour(v.activation, floor), v.ends)
            for v in ranked[start : start + columns]
        ]
        rows.append("<TR>" + "".join(cells) + "</TR>")
    span = min(len(ranked), max(1, columns))
    head = f'<TR><TD COLSPAN="{span}" BORDER="0"><I>fires with no context needed</I></TD></TR>'
    table = f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2">{head}{"".join(rows)}</TABLE>>'
    return {"label": table, "shape": "plaintext", "tooltip": "firing tokens that need no context"}


def _legend_attrs(show_ignores: bool) -> dict[str, str]:
    rows = [
        _cell("firing token, activation (red: stronger)", firing_colour(0.9), False),
        _cell("context token, importance (blue: stronger)", context_colour(0.8), False),
        _cell("thick border: a pattern ends here", "#ffffff", True),
        _cell("arrow: one token further back in the text", "#ffffff", False),
    ]
    if show_ignores:
        rows.insert(2, _cell(f"{IGNORE_LABEL} any one token", IGNORE_FILL, False))
    else:
        rows.insert(2, _cell("dashed arrow: skips any tokens", "#ffffff", False))
    body = "".join(f"<TR>{r}</TR>" for r in rows)
    table = f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2"><TR><TD BORDER="0"><B>legend</B></TD></TR>{body}</TABLE>>'
    return {"label": table, "shape": "plaintext", "fontsize": "10", "tooltip": "legend"}


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
    value = view.activation if view.depth == 1 else view.importance
    shown = graphviz.escape(display_token(view.token))
    return {
        "label": shown if value is None else f"{shown}\\n{value:.2f}",
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
            TEXT_ORDER_WILDCARD if t == IGNORE else display_token(t) for t in reversed(tokens)
        ]
        lines.append((" ".join(words), activation))
    width = max(len(text) for text, _ in lines)
    return "\n".join(f"{text.ljust(width)}  → {activation:.2f}" for text, activation in lines)


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
