"""Drawing tries: colours, labels, condensed nodes, text summary, missing Graphviz."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from n2g_kb.errors import N2GKBError
from n2g_kb.views.render import (
    GraphvizMissingError,
    context_colour,
    display_token,
    firing_colour,
    render_bytes,
    render_trie,
    trie_to_text,
    write_graph,
)
from n2g_kb.n2g.trie import Trie

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")


def paris_trie() -> Trie:
    trie = Trie()
    # "in the city of Paris": Paris fires 0.93; "city" and "in" matter
    trie.add_sample(
        [" in", " the", " city", " of", " Paris"],
        [0.0, 0.0, 0.0, 0.0, 0.93],
        [[0.0] * 5] * 4 + [[0.9, 0.1, 0.8, 0.2, 1.0]],
    )
    trie.add_sample([" at", " Paris"], [0.0, 0.7], [[0.0, 0.0], [0.9, 1.0]])
    trie.add_sample([" at", " London"], [0.0, 0.65], [[0.0, 0.0], [1.0, 1.0]])
    trie.merge_ignores()
    return trie


def node_line(source: str, label: str) -> str:
    forms = (f"label={label} ", f'label="{label}"', f'label="{label}\\n', f"label={label}")
    lines = [line for line in source.splitlines() if any(form in line for form in forms)]
    assert len(lines) == 1, (label, lines)
    return lines[0]


def test_colours_saturate_from_the_floor_to_full():
    assert firing_colour(1.0) == "#ff0000"
    assert firing_colour(0.3) == firing_colour(0.1) == firing_colour(None) == "#ffffff"
    assert firing_colour(0.86) == "#ff3333"
    assert context_colour(1.0) == "#0000ff"
    assert context_colour(0.55) == "#ffffff"
    assert context_colour(0.91) == "#3333ff"


def test_firing_nodes_are_red_context_blue_and_wildcards_grey_and_dashed():
    source = render_trie(paris_trie(), "L0 N1").source
    assert 'label="L0 N1"' in source
    assert f'fillcolor="{firing_colour(0.93)}"' in node_line(source, "paris")
    assert f'fillcolor="{firing_colour(0.65)}"' in node_line(source, "london")
    city = node_line(source, "city")
    assert f'fillcolor="{context_colour(0.8)}"' in city and "fontcolor=white" in city
    wildcards = [line for line in source.splitlines() if 'label="*"' in line]
    assert len(wildcards) == 2
    assert all('style="filled,dashed"' in line and "#e0e0e0" in line for line in wildcards)


def test_pattern_ends_get_a_thick_border():
    source = render_trie(paris_trie()).source
    assert "penwidth=4" in node_line(source, "in")
    assert "penwidth=1.5" in node_line(source, "city")


def test_the_same_context_token_at_the_same_distance_is_drawn_once():
    source = render_trie(paris_trie()).source
    at_id = node_line(source, "at").split()[0]
    paris_id = node_line(source, "paris").split()[0]
    london_id = node_line(source, "london").split()[0]
    assert f"{paris_id} -> {at_id}" in source and f"{london_id} -> {at_id}" in source
    assert "rankdir=RL" in source and "dir=back" in source


def test_hiding_wildcards_joins_context_with_dashed_edges():
    source = render_trie(paris_trie(), show_ignores=False).source
    assert 'label="*"' not in source
    paris_id = node_line(source, "paris").split()[0]
    city_id = node_line(source, "city").split()[0]
    in_id = node_line(source, "in").split()[0]
    assert re.search(rf"{paris_id} -> {city_id} \[style=dashed\]", source)
    assert re.search(rf"{city_id} -> {in_id} \[style=dashed\]", source)


def test_awkward_tokens_get_readable_escaped_labels():
    assert display_token("\n") == "\\n"
    assert display_token(" ") == "␣"
    assert display_token(" ,") == "␣,"
    assert display_token(" Paris") == "␣Paris"
    assert display_token("\u200b") == "\\u200b"
    assert display_token('"') == '"'
    assert display_token("") == "''"
    assert display_token("<0xE2><0x80>") == "<0xE2><0x80>"
    trie = Trie()
    for token in ['"', "\\", "\n", "Ġ", "漢字"]:
        trie.add_sample([token], [0.9], [[1.0]])
    source = render_trie(trie).source  # all five fire with no context: one table of them
    for shown in ["&quot; 0.90", "\\ 0.90", "\\n 0.90", "Ġ 0.90", "漢字 0.90"]:
        assert f">{shown}</TD>" in source
    trie = Trie()
    for token in ['"', "\\", "\n"]:
        trie.add_sample(["x", token], [0.0, 0.9], [[0.0, 0.0], [1.0, 1.0]])
    source = render_trie(trie).source
    assert r'label="\"\n0.90"' in source
    assert r'label="\\\n0.90"' in source
    assert 'label="\\\\n\\n0.90"' in source


def test_context_free_tokens_form_one_table_strongest_first_and_a_legend_explains_the_colours():
    trie = Trie()
    for token, value in [("b", 0.6), ("a", 0.7), ("c", 0.95), ("d", 0.8)]:
        trie.add_sample([token], [value], [[1.0]])
    trie.add_sample(["in", "paris"], [0.0, 0.9], [[0.0, 0.0], [1.0, 1.0]])
    source = render_trie(trie).source
    grid = next(line for line in source.splitlines() if "context_free [" in line).split("fires with no context needed")[1]
    assert re.findall(r">([a-z]) 0\.\d\d</TD>", grid) == ["c", "d", "a", "b"]
    assert 'label="paris\\n0.90"' in source  # a token with context stays a node of its own
    assert "legend" in source and "context token, importance" in source
    assert "legend" not in render_trie(trie, legend=False).source


@needs_dot
def test_dot_draws_weird_labels_as_their_text():
    trie = Trie()
    for token in ['"', "\\", "\n", "Ġ"]:
        trie.add_sample([token], [0.9], [[1.0]])
    svg = render_bytes(render_trie(trie, 'a "quoted" title'), "svg").decode()
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert {'" 0.90', "\\ 0.90", "\\n 0.90", "Ġ 0.90", 'a "quoted" title', "legend"} <= set(texts)


@needs_dot
def test_writing_an_image_uses_the_suffix_as_format(tmp_path):
    svg = write_graph(render_trie(paris_trie()), tmp_path / "graph.svg")
    png = write_graph(render_trie(paris_trie()), tmp_path / "graph.png")
    assert svg.read_text().lstrip().startswith("<?xml")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_dot_images_fail_with_install_advice_but_source_still_works(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    graph = render_trie(paris_trie())
    with pytest.raises(GraphvizMissingError, match="apt-get install graphviz") as caught:
        write_graph(graph, tmp_path / "graph.svg")
    assert isinstance(caught.value, N2GKBError)
    written = write_graph(graph, tmp_path / "graph.dot")
    assert written.read_text(encoding="utf-8") == graph.source


def test_text_summary_lists_patterns_in_text_order_strongest_first():
    assert trie_to_text(paris_trie()) == "\n".join(
        [
            "in … city … paris  → 0.93",
            "at paris           → 0.70",
            "at london          → 0.65",
        ]
    )
    trie = Trie()
    trie.add_sample([" x", "\n"], [0.0, 0.8], [[0.0, 0.0], [0.9, 1.0]])
    assert trie_to_text(trie) == "x \\n  → 0.80"
    assert trie_to_text(Trie()) == "(no patterns)"
    assert render_trie(Trie()).source.startswith("digraph trie {")
