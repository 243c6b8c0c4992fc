"""A static site of the knowledge base: one page per neuron and an index with search.

`build_site` writes ``index.html`` (per model and layer, a table of the neurons with their
F1, max activation and strongest firing tokens, and a token search that runs in the
page) and ``n/<model>/<layer>_<neuron>.html`` per neuron (the drawn graph with its
legend, metrics next to the baselines, the highlighted train and test examples, similar
neurons with links). Every page carries its own CSS, script and data inline, so the folder
works from ``file://`` with no server and no network, and can be copied anywhere.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2g_kb.errors import ConfigError
from n2g_kb.views.examples import EXAMPLE_CSS
from n2g_kb.views.notebook import examples_html, graph_svg, metrics_table
from n2g_kb.views.tokens import display_token

Progress = Callable[[str, int, int], None]
SIMILAR_THRESHOLD = 0.2
CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;"
    "padding:0 1em;color:#222}a{color:#0645ad}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}td.num{text-align:right}"
    ".metrics td{text-align:right}.graph svg{max-width:100%;height:auto}.tokens{font-family:ui-monospace,monospace}"
    "#q{font-size:1.1em;padding:4px 8px;width:22em}#results li{margin:2px 0}.muted{color:#777}" + EXAMPLE_CSS
)
SEARCH_JS = r"""
function normalise(t){
  // the rule of n2g_kb.n2g.trie.normalise_token: title-case words lower-cased, words stripped
  var chars=Array.from(t), cased=false, prevCased=false, title=true;
  for(var c of chars){var up=/\p{Lu}|\p{Lt}/u.test(c), low=/\p{Ll}/u.test(c);
    if(up){if(prevCased){title=false;} prevCased=true; cased=true;}
    else if(low){if(!prevCased){title=false;} prevCased=true; cased=true;}
    else{prevCased=false;}}
  var s=(chars.length>1 && cased && title)?t.toLowerCase():t;
  if(Array.from(s).length>1 && /\p{L}/u.test(s)){s=s.trim();}
  return s;
}
function show(token){
  var out=document.getElementById('results'); out.innerHTML='';
  var key=normalise(token), hits=DATA.tokens[key]||[];
  var info=document.getElementById('searched');
  info.textContent=token?('Neurons that fire on '+JSON.stringify(key)+': '+hits.length):'';
  hits.forEach(function(h){var p=DATA.pages[h[0]], li=document.createElement('li'), a=document.createElement('a');
    a.href=p[0]; a.textContent=p[1]; li.appendChild(a); li.appendChild(document.createTextNode(' activation '+h[1].toFixed(2))); out.appendChild(li);});
  if(!hits.length && key){var near=Object.keys(DATA.tokens).filter(function(t){return t.indexOf(key)>=0;}).slice(0,20);
    if(near.length){var li=document.createElement('li'); li.className='muted'; li.textContent='Similar stored tokens: '+near.join(', '); out.appendChild(li);}}
}
document.getElementById('q').addEventListener('input',function(e){show(e.target.value);});
document.getElementById('search').addEventListener('submit',function(e){e.preventDefault();show(document.getElementById('q').value);});
"""


@dataclass
class SiteSummary:
    folder: Path
    pages: int
    models: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _page_path(model: str, layer: int, neuron: int) -> str:
    return f"n/{_slug(model)}/{layer}_{neuron}.html"


def _document(title: str, body: str, script: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body>{body}{f'<script>{script}</script>' if script else ''}</body></html>\n"
    )


def _tokens(tokens: dict[str, float], limit: int | None = None) -> str:
    ranked = sorted(tokens.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f"{html.escape(display_token(t))} <span class=muted>{v:.2f}</span>" for t, v in ranked)


def _number(value: Any) -> str:
    return "–" if value is None or value != value else f"{float(value):.3f}"


def neuron_page(graph, similar_rows: list[dict[str, Any]], included: set[tuple[str, int, int]]) -> str:
    """One neuron's page (links are relative to the page's own folder)."""
    from n2g_kb.views.render import trie_to_text

    r = graph.result
    title = f"{r.model} layer {r.layer} neuron {r.index}"
    svg = graph_svg(graph.trie, title)
    drawn = f'<div class="graph">{svg}</div>' if svg else f"<pre>{html.escape(trie_to_text(graph.trie))}</pre>"
    rows = []
    for s in similar_rows:
        key = (r.model, s["other_layer"], s["other_neuron"])
        label = f"layer {s['other_layer']} neuron {s['other_neuron']}"
        link = f'<a href="../../{_page_path(*key)}">{label}</a>' if key in included else label
        shared = ", ".join(html.escape(display_token(t)) for t in [*s["shared_firing"], *s["shared_context"]])
        rows.append(f"<tr><td>{link}</td><td class=num>{s['similarity']:.2f}</td><td class=tokens>{shared}</td></tr>")
    similar = (
        f"<table><tr><th>neuron</th><th>similarity</th><th>shared tokens</th></tr>{''.join(rows)}</table>"
        if rows else f"<p class=muted>No neuron shares at least {SIMILAR_THRESHOLD:.0%} of its tokens.</p>"
    )
    body = (
        f'<p><a href="../../index.html">← all neurons</a></p><h1>{html.escape(title)}</h1>'
        f"<p>status {html.escape(r.status)} · max activation {r.max_activation:.3f} · {len(r.trie_nodes)} trie nodes"
        f"{' · error: ' + html.escape(r.error) if r.error else ''}</p>"
        f"<p class=tokens>fires on: {_tokens(r.firing_tokens) or '–'}</p>"
        f"<p class=tokens>context: {_tokens(r.context_tokens, 30) or '–'}</p>"
        f"<h2>Scores</h2><p class=muted>Held-out examples; the baselines predict from the token alone "
        f"(token lookup) or from the token and the one before it (n-gram).</p>{metrics_table(r.metrics)}"
        f"<h2>Graph</h2>{drawn}<h2>Examples</h2>{examples_html(r.examples, r.max_activation)}"
        f"<h2>Similar neurons</h2>{similar}"
    )
    return _document(title, body)


def _index(models: list[str], entries: list[dict[str, Any]], data: dict[str, Any]) -> str:
    parts = [
        "<h1>n2g-kb</h1><p>Neurons of the knowledge base, explained by N2G graphs. "
        "Search a token as the model writes it (e.g. <code> Paris</code>) or as stored (<code>paris</code>).</p>",
        '<form id="search"><input id="q" type="search" placeholder="token, e.g. Paris" autofocus> '
        '<button type="submit">search</button></form><p id="searched" class=muted></p><ul id="results"></ul>',
    ]
    for model in models:
        parts.append(f"<h2>{html.escape(model)}</h2>")
        layers = sorted({e["layer"] for e in entries if e["model"] == model})
        parts.append("<p>" + " · ".join(f'<a href="#{_slug(model)}-L{layer}">layer {layer}</a>' for layer in layers) + "</p>")
        for layer in layers:
            rows = [e for e in entries if e["model"] == model and e["layer"] == layer]
            body = "".join(
                f'<tr><td><a href="{e["href"]}">{e["neuron"]}</a></td><td>{html.escape(e["status"])}</td>'
                f"<td class=num>{_number(e['f1'])}</td><td class=num>{e['max_activation']:.2f}</td>"
                f"<td class=tokens>{e['firing']}</td></tr>"
                for e in rows
            )
            parts.append(
                f'<h3 id="{_slug(model)}-L{layer}">layer {layer} ({len(rows)} neurons)</h3><table>'
                f"<tr><th>neuron</th><th>status</th><th>F1</th><th>max act.</th><th>fires on</th></tr>{body}</table>"
            )
    script = "var DATA=" + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + ";" + SEARCH_JS
    return _document("n2g-kb", "".join(parts), script)


def build_site(
    store,
    folder: str | Path,
    *,
    models: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    progress: Progress | None = None,
) -> SiteSummary:
    """Writes the site for `models` (default: all) and `layers` (default: all stored)."""
    from n2g_kb.kb import query

    folder = Path(folder)
    chosen = list(models) if models is not None else list(query.models(store)["model"])
    for model in chosen:
        query.check_model(store, model)
    wanted = set(layers) if layers is not None else None
    keys = [
        (model, row["layer"], row["neuron"])
        for model in chosen
        for row in store.read("read/neuron_keys", model=model)
        if wanted is None or row["layer"] in wanted
    ]
    if not keys:
        raise ConfigError("No stored neuron matches that selection; see `n2gkb search layers` for what is stored")
    included = set(keys)
    entries: list[dict[str, Any]] = []
    data: dict[str, Any] = {"pages": [], "tokens": {}}
    try:
        for i, (model, layer, neuron) in enumerate(keys):
            graph = query.load_graph(store, model, layer, neuron)
            similar = query.similar(store, model=model, layer=layer, neuron=neuron, threshold=SIMILAR_THRESHOLD, limit=10)
            path = folder / _page_path(model, layer, neuron)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(neuron_page(graph, similar.to_dict(orient="records"), included), encoding="utf-8")
            r = graph.result
            href = _page_path(model, layer, neuron)
            data["pages"].append([href, f"{model} layer {layer} neuron {neuron}"])
            for token, value in r.firing_tokens.items():
                data["tokens"].setdefault(token, []).append([len(data["pages"]) - 1, round(float(value), 4)])
            entries.append(
                {"model": model, "layer": layer, "neuron": neuron, "href": href, "status": r.status,
                 "f1": r.metrics.get("f1"), "max_activation": r.max_activation, "firing": _tokens(r.firing_tokens, 5)}
            )
            if progress:
                progress("pages", i + 1, len(keys))
        for hits in data["tokens"].values():
            hits.sort(key=lambda h: -h[1])
        (folder / "index.html").write_text(_index(chosen, entries, data), encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"Cannot write the site to {folder}: {e.strerror or e}; pass a writable folder") from e
    return SiteSummary(folder=folder, pages=len(keys), models=chosen)


def has_graphviz() -> bool:
    return shutil.which("dot") is not None
