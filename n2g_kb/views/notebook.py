"""A neuron in a notebook: `NeuronGraph._repr_html_` (metrics, graph SVG, examples)."""

from __future__ import annotations

import html
import shutil
from typing import Any

from n2g_kb.views.examples import EXAMPLE_CSS, example_html, example_records
from n2g_kb.views.tokens import display_token

METRIC_ROWS = (
    ("F1", "f1", "baseline_token_f1", "baseline_ngram_f1"),
    ("precision", "precision", "baseline_token_precision", "baseline_ngram_precision"),
    ("recall", "recall", "baseline_token_recall", "baseline_ngram_recall"),
    ("non-firing F1", "nonfiring_f1", "baseline_token_nonfiring_f1", "baseline_ngram_nonfiring_f1"),
)


def _number(value: Any) -> str:
    return "–" if value is None or value != value else f"{float(value):.3f}"


def metrics_table(metrics: dict[str, float]) -> str:
    """N2G's scores next to the token-lookup and n-gram baselines (– where not evaluated)."""
    rows = "".join(
        f"<tr><th>{label}</th><td>{_number(metrics.get(ours))}</td><td>{_number(metrics.get(token))}</td>"
        f"<td>{_number(metrics.get(ngram))}</td></tr>"
        for label, ours, token, ngram in METRIC_ROWS
    )
    return f'<table class="metrics"><tr><th></th><th>N2G</th><th>token lookup</th><th>n-gram</th></tr>{rows}</table>'


def graph_svg(trie, title: str = "") -> str | None:
    """The drawn graph as inline SVG, or None without Graphviz (or with an empty trie)."""
    from n2g_kb.views.render import render_bytes, render_trie

    if shutil.which("dot") is None or not trie.patterns():
        return None
    svg = render_bytes(render_trie(trie, title), "svg").decode("utf-8")
    return svg[svg.index("<svg") :]


def examples_html(examples, max_activation: float) -> str:
    """Train and test examples, highlighted, each split under its own heading."""
    rows = example_records(examples)
    scale = max([max_activation, *(r["key_activation"] for r in rows)] or [0.0])
    parts = []
    for split in ("train", "test"):
        chosen = [r for r in rows if r["split"] == split]
        if chosen:
            parts.append(f"<h4>{split} examples ({len(chosen)})</h4>")
            parts.extend(example_html(r, scale) for r in chosen)
    return "".join(parts) or "<p>No stored examples.</p>"


def neuron_html(graph) -> str:
    """The whole notebook view of a `NeuronGraph`."""
    from n2g_kb.views.render import trie_to_text

    r = graph.result
    svg = graph_svg(graph.trie)
    drawn = svg or f"<pre>{html.escape(trie_to_text(graph.trie))}</pre>"
    firing = ", ".join(
        f"{html.escape(display_token(t))} {v:.2f}" for t, v in sorted(r.firing_tokens.items(), key=lambda kv: -kv[1])
    )
    return (
        f"<style>{EXAMPLE_CSS}.metrics td,.metrics th{{padding:1px 8px;text-align:right}}</style>"
        f"<div><h3>{html.escape(r.model)} layer {r.layer} neuron {r.index}</h3>"
        f"<p>status {html.escape(r.status)} · max activation {r.max_activation:.3f} · {len(r.trie_nodes)} trie nodes"
        f"{' · fires on ' + firing if firing else ''}</p>"
        f"{metrics_table(r.metrics)}{drawn}{examples_html(r.examples, r.max_activation)}</div>"
    )
