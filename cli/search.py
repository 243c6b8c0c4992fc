"""Asking the knowledge base: `n2gkb search ...`, `fire`, `similar`, `show`, `queries ...`.

Each command opens the store, calls one helper of `n2g_kb.kb.query` and prints its
DataFrame as a table, or as JSON records (`--json`) / CSV (`--csv`) for scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.common import (
    DatabaseOpt,
    PasswordOpt,
    UriOpt,
    UserOpt,
    cli_errors,
    connection,
    console,
    open_store,
    status,
)
from n2g_kb.errors import ConfigError
from n2g_kb.settings import output_error, output_path

if TYPE_CHECKING:  # pandas is imported by the commands that need it, not at startup
    import pandas as pd

search_app = typer.Typer(
    help="Search the knowledge base: which neurons fire on a token, in a context, ... "
    "Tokens are typed as the model writes them (' Paris'); they are normalised as N2G stores them.",
    no_args_is_help=True,
)
queries_app = typer.Typer(
    help="The Cypher query library (cypher/query/): list, show, run, export for Neo4j Browser.", no_args_is_help=True
)

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")]
LayerOpt = Annotated[
    str | None, typer.Option("--layers", "--layer", "-l", help="Only these layers, e.g. 3 or 0-2,5 (default: all).")
]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]
TokenizerOpt = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        help="HuggingFace tokenizer (hub name or local directory); default: the model's recorded tokenizer or source.",
    ),
]
TokensOpt = Annotated[
    bool, typer.Option("--tokens", help='TEXT is already tokenised: a JSON list of token strings, e.g. \'["in", " Paris"]\'.')
]
MinActivationOpt = Annotated[
    float, typer.Option("--min-activation", min=0.0, max=1.0, help="Smallest predicted activation shown (0.5 = fires).")
]


# ---------------------------------------------------------------------------- output


def _plain(value: Any) -> Any:
    """A JSON-ready Python value (numpy scalars unwrapped, NaN / NA as None)."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{column: _plain(value) for column, value in zip(frame.columns, row)} for row in frame.itertuples(index=False)]


def _cell(column: str, value: Any) -> str:
    from n2g_kb.views.tokens import display_token

    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and column in ("token", "key_token"):
        return display_token(value)
    return str(value)


def emit(frame: pd.DataFrame, as_json: bool, as_csv: bool, empty: str = "No results.") -> None:
    """Prints `frame` as a table, JSON records or CSV."""
    import pandas as pd

    if as_json and as_csv:
        raise ConfigError("Choose one of --json and --csv")
    # color=True: click would otherwise strip what looks like a terminal escape sequence
    # from piped output, and with it tokens that hold one.
    if as_json:
        typer.echo(json.dumps(_records(frame), ensure_ascii=False, default=str), color=True)
        return
    if as_csv:
        flat = pd.DataFrame(
            [
                {k: json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (list, dict)) else v for k, v in r.items()}
                for r in _records(frame)
            ],
            columns=list(frame.columns),
        )
        typer.echo(flat.to_csv(index=False), nl=False, color=True)
        return
    if frame.empty:
        status(empty)
        return
    table = Table(show_lines=False, caption=f"{len(frame)} row{'s' if len(frame) != 1 else ''}")
    for column in frame.columns:
        table.add_column(column, overflow="fold", justify="right" if pd.api.types.is_numeric_dtype(frame[column]) else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(Text(_cell(column, value)) for column, value in zip(frame.columns, row)))
    console.print(table)


def _ask(uri, user, password, database, work: Callable[[Any], pd.DataFrame]) -> pd.DataFrame:
    with open_store(connection(uri, user, password, database)) as store:
        return work(store)


# ----------------------------------------------------------------------------- layers

# How each query orders its rows (its ORDER BY), to merge the answers of several layers.
_ORDER: dict[str, list[tuple[str, bool]]] = {
    "fires_on": [("activation", False), ("model", True), ("layer", True), ("neuron", True)],
    "context": [("end_activation", False), ("model", True), ("layer", True), ("neuron", True)],
    "context_loose": [("activation", False), ("model", True), ("layer", True), ("neuron", True)],
    "last_token": [("activation", False), ("model", True), ("layer", True), ("neuron", True)],
    "fire": [("position", True), ("activation", False), ("model", True), ("layer", True), ("neuron", True)],
    "similar": [("similarity", False), ("model", True), ("layer", True), ("neuron", True), ("other_layer", True), ("other_neuron", True)],
    "supersets": [("model", True), ("superset_layer", True), ("superset_neuron", True), ("subset_layer", True), ("subset_neuron", True)],
    "polysemantic": [("n_groups", False), ("model", True), ("layer", True), ("neuron", True)],
    "repetition": [("same_pattern", False), ("activation", False), ("model", True), ("layer", True), ("neuron", True), ("token", True)],
    "top_neurons": [("value", False), ("model", True), ("layer", True), ("neuron", True)],
}


def _layer_list(layers: str | None) -> list[int | None]:
    from n2g_kb.selection import parse_ranges

    return [None] if layers is None else list(parse_ranges(layers, "--layers"))


def layered(name: str, layers: str | None, call: Callable[[int | None], pd.DataFrame], limit: int | None = None) -> pd.DataFrame:
    """`call(layer)` for each layer of a `--layers` selection, merged in the query's own order."""
    import pandas as pd

    chosen = _layer_list(layers)
    if len(chosen) == 1:
        return call(chosen[0])
    frames = [call(layer) for layer in chosen]
    merged = pd.concat(frames, ignore_index=True)
    keys = [c for c, _ in _ORDER[name] if c in merged.columns]
    merged = merged.loc[~merged[keys].astype(str).duplicated()] if keys else merged
    merged = merged.sort_values(keys, ascending=[a for c, a in _ORDER[name] if c in keys], kind="stable")
    merged = merged.reset_index(drop=True)
    return merged.head(limit) if limit is not None else merged


# ---------------------------------------------------------------------------- search


@search_app.command("token")
def search_token(
    token: Annotated[str, typer.Argument(help="The firing token, as the model writes it (e.g. ' Paris').")],
    model: ModelOpt = None,
    layers: LayerOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Neurons that fire on TOKEN, with the activation stored for it (cypher/query/fires_on)."""
    from n2g_kb.kb import query

    def work(store):
        frame = layered("fires_on", layers, lambda l: query.fires_on(store, token, model=model, layer=l))
        if frame.empty:
            _warn_if_not_one_token(store, token, model)
        return frame

    with cli_errors():
        frame = _ask(uri, user, password, database, work)
        emit(frame, as_json, as_csv, empty="No stored neuron fires on that token.")


def _warn_if_not_one_token(store, token: str, model: str | None) -> None:
    """Says so when TOKEN is several tokens for the model's tokenizer (then nothing can fire on it)."""
    from n2g_kb.errors import N2GKBError
    from n2g_kb.kb import query
    from n2g_kb.views.tokens import display_token

    names = [model] if model else list(query.models(store)["model"])
    if len(names) != 1:
        return
    try:
        pieces = query.tokenize(token, query.load_tokenizer(query.tokenizer_name(store, names[0])))
    except N2GKBError:
        return
    if len(pieces) > 1:
        shown = " ".join(display_token(p) for p in pieces)
        status(
            f"Note: {token!r} is not one token for {names[0]}'s tokenizer but {len(pieces)}: {shown}. "
            f"Neurons fire on single tokens; try e.g. `n2gkb search token {pieces[-1]!r}`, or "
            f"`n2gkb search context {pieces[-1]!r} {pieces[-2]!r}`."
        )


@search_app.command("context")
def search_context(
    token: Annotated[str, typer.Argument(help="The firing token (e.g. ' Paris').")],
    context: Annotated[
        list[str], typer.Argument(help="Context token(s) in text order, consecutive, the last one nearest TOKEN.")
    ],
    distance: Annotated[
        int | None, typer.Option("--distance", "-d", min=1, help="The last context token sits this many tokens before TOKEN.")
    ] = None,
    loose: Annotated[
        bool, typer.Option("--loose", help="Neuron-level token-set search: faster, but not path-aware (may over-match).")
    ] = False,
    model: ModelOpt = None,
    layers: LayerOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Neurons with a pattern that fires on TOKEN and holds CONTEXT in that same pattern (cypher/query/context)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "context_loose" if loose else "context",
                layers,
                lambda l: query.in_context(s, token, context, distance=distance, model=model, layer=l, loose=loose),
            ),
        )
        emit(frame, as_json, as_csv, empty="No stored pattern fires on that token in that context.")


def _text_tokens(store, text: str, model: str | None, tokenizer: str | None, pretokenised: bool) -> tuple[list[str], str | None]:
    """The tokens of TEXT and the model to search (the only stored one when not given)."""
    from n2g_kb.kb import query

    if pretokenised:
        try:
            tokens = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--tokens expects TEXT to be a JSON list of strings ({e.msg})") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ConfigError('--tokens expects TEXT to be a JSON list of strings, e.g. \'["in", " Paris"]\'')
        return tokens, model
    if model is None:
        names = list(query.models(store)["model"])
        if len(names) != 1:
            raise ConfigError(
                f"Pass --model to pick whose tokenizer to use (models: {', '.join(map(repr, names)) or 'none yet'})"
            )
        model = names[0]
    name = tokenizer or query.tokenizer_name(store, model)
    status(f"Tokenising with {name!r}")
    return query.tokenize(text, query.load_tokenizer(name)), model


@search_app.command("last")
def search_last(
    text: Annotated[str, typer.Argument(help="The text (or, with --tokens, a JSON list of tokens).")],
    model: ModelOpt = None,
    layers: LayerOpt = None,
    tokenizer: TokenizerOpt = None,
    tokens: TokensOpt = False,
    min_activation: MinActivationOpt = 0.5,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Neurons whose graph fires on the LAST token of TEXT, with the winning pattern (cypher/query/last_token)."""
    from n2g_kb.kb import query

    def work(store):
        toks, chosen = _text_tokens(store, text, model, tokenizer, tokens)
        return layered(
            "last_token",
            layers,
            lambda l: query.fires_on_last(store, toks, model=chosen, layer=l, min_activation=min_activation),
        )

    with cli_errors():
        emit(_ask(uri, user, password, database, work), as_json, as_csv, empty="No stored graph fires on the last token.")


@search_app.command("supersets")
def search_supersets(
    model: ModelOpt = None,
    layers: LayerOpt = None,
    neuron: Annotated[int | None, typer.Option("--neuron", "-n", min=0, help="Only pairs with this neuron index.")] = None,
    cross_layer: Annotated[bool, typer.Option("--cross-layer", help="Only pairs in different layers.")] = False,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Pairs where one neuron's firing tokens strictly contain another's (cypher/query/supersets)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "supersets",
                layers,
                lambda l: query.supersets(s, model=model, layer=l, neuron=neuron, cross_layer_only=cross_layer, limit=limit),
                limit,
            ),
        )
        emit(frame, as_json, as_csv, empty="No superset/subset pairs.")


@search_app.command("polysemantic")
def search_polysemantic(
    model: ModelOpt = None,
    layers: LayerOpt = None,
    min_groups: Annotated[int, typer.Option("--min-groups", min=1, help="Smallest number of unrelated groups.")] = 2,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Neurons whose firing patterns form several groups sharing no context (cypher/query/polysemantic)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "polysemantic",
                layers,
                lambda l: query.polysemantic(s, model=model, layer=l, min_groups=min_groups, limit=limit),
                limit,
            ),
        )
        emit(frame, as_json, as_csv, empty="No polysemantic candidates.")


@search_app.command("repetition")
def search_repetition(
    model: ModelOpt = None,
    layers: LayerOpt = None,
    same_pattern: Annotated[
        bool, typer.Option("--same-pattern", help="Only a token repeated within one pattern (path-aware).")
    ] = False,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """In-context / repetition candidates: a token both firing and context (cypher/query/repetition)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "repetition",
                layers,
                lambda l: query.repetition(s, model=model, layer=l, same_pattern=same_pattern, limit=limit),
                limit,
            ),
        )
        emit(frame, as_json, as_csv, empty="No repetition candidates.")


@search_app.command("top")
def search_top(
    metric: Annotated[str, typer.Option("--metric", help="Neuron metric to rank by (f1, precision, recall, ...).")] = "f1",
    model: ModelOpt = None,
    layers: LayerOpt = None,
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The neurons whose graphs score highest on an evaluation metric (cypher/query/top_neurons)."""
    from n2g_kb.kb import query

    with cli_errors():
        query.check_metric(metric)
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "top_neurons", layers, lambda l: query.top_neurons(s, metric=metric, model=model, layer=l, limit=limit), limit
            ),
        )
        emit(frame, as_json, as_csv, empty=f"No neuron has a {metric} score yet.")


@search_app.command("layers")
def search_layers(
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Per-layer summary: neurons by status, mean scores, trie sizes (cypher/query/layer_summary)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(uri, user, password, database, lambda s: query.layer_summary(s, model=model))
        emit(frame, as_json, as_csv, empty="The knowledge base holds no neurons yet.")


@search_app.command("models")
def search_models(
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """The models in the knowledge base (cypher/query/models)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(uri, user, password, database, query.models)
        emit(frame, as_json, as_csv, empty="The knowledge base holds no models yet.")


@search_app.command("units")
def search_units(
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="Only units of this kind: neuron, sae_latent or transcoder.")
    ] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Stored units by kind (MLP neurons, SAE latents, transcoder features) per model and layer (cypher/query/units)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(uri, user, password, database, lambda s: query.units(s, kind=kind))
        emit(frame, as_json, as_csv, empty="No stored units of that kind.")


# -------------------------------------------------------------------- top-level ones


def fire(
    text: Annotated[str, typer.Argument(help="The text (or, with --tokens, a JSON list of tokens).")],
    model: ModelOpt = None,
    layers: LayerOpt = None,
    tokenizer: TokenizerOpt = None,
    tokens: TokensOpt = False,
    min_activation: MinActivationOpt = 0.5,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="'memory': every stored pattern in one in-memory table (cached on disk); "
            "'cypher': match in Neo4j; 'python': fetch the tries and predict here.",
        ),
    ] = "memory",
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Every stored neuron predicted to fire at each token of TEXT, from the stored graphs (no model run)."""
    from n2g_kb.kb import query

    def work(store):
        toks, chosen = _text_tokens(store, text, model, tokenizer, tokens)
        return layered(
            "fire",
            layers,
            lambda l: query.fire(store, toks, model=chosen, layer=l, min_activation=min_activation, engine=engine),
        )

    with cli_errors():
        emit(_ask(uri, user, password, database, work), as_json, as_csv, empty="No stored graph fires anywhere in the text.")


def similar(
    model: ModelOpt = None,
    layers: LayerOpt = None,
    neuron: Annotated[int | None, typer.Option("--neuron", "-n", min=0, help="Neurons similar to this one.")] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", "-t", min=0.0, max=1.0, help="Smallest similarity (Jaccard, 0..1).")
    ] = 0.5,
    cross_layer: Annotated[bool, typer.Option("--cross-layer", help="Only pairs in different layers.")] = False,
    limit: LimitOpt = 50,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="'memory': every neuron's token sets in one in-memory index (cached on disk); "
            "'cypher': ask Neo4j (cypher/query/similar). Same answers.",
        ),
    ] = "memory",
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Similar neurons: overlap of firing and context tokens above a threshold (cypher/query/similar)."""
    from n2g_kb.kb import query

    with cli_errors():
        frame = _ask(
            uri,
            user,
            password,
            database,
            lambda s: layered(
                "similar",
                layers,
                lambda l: query.similar(
                    s, model=model, layer=l, neuron=neuron, threshold=threshold, cross_layer_only=cross_layer, limit=limit,
                    engine=engine,
                ),
                limit,
            ),
        )
        emit(frame, as_json, as_csv, empty="No similar neurons above the threshold.")


_IMAGE_SUFFIXES = {".svg", ".png", ".pdf", ".dot", ".gv"}


def show(
    model: Annotated[str, typer.Argument(help="Model name.")],
    layer: Annotated[int, typer.Argument(min=0, help="Layer.")],
    neuron: Annotated[int, typer.Argument(min=0, help="Neuron index.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also draw the condensed graph to this .svg/.png/.pdf (needs Graphviz) or .dot file."),
    ] = None,
    hide_ignores: Annotated[bool, typer.Option("--hide-ignores", help="Draw without wildcard nodes, as the paper does.")] = False,
    examples: Annotated[
        bool,
        typer.Option(
            "--examples", "-e", help="Also print the stored train and test examples, activations as colour, key token ⟦marked⟧."
        ),
    ] = False,
    as_json: JsonOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """One neuron's stored graph: a text summary of its patterns, and optionally the drawn graph."""
    from n2g_kb.kb import query
    from n2g_kb.views.render import render_trie, trie_to_text, write_graph

    with cli_errors():
        if out is not None and out.suffix.lower() not in _IMAGE_SUFFIXES:
            raise ConfigError(f"--out {out}: use a .svg, .png, .pdf or .dot file")
        if out is not None:
            output_path(out, "--out")
        with open_store(connection(uri, user, password, database)) as store:
            graph = query.load_graph(store, model, layer, neuron)
        if out is not None:
            title = f"{model} layer {layer} neuron {neuron}"
            try:
                write_graph(render_trie(graph.trie, title, show_ignores=not hide_ignores), out)
            except OSError as e:
                raise output_error(out, "--out", e) from None
            status(f"Wrote {out}")
        r = graph.result
        if as_json:
            typer.echo(
                json.dumps(
                    _plain(
                        {
                            "model": r.model,
                            "layer": r.layer,
                            "neuron": r.index,
                            "status": r.status,
                            "error": r.error,
                            "kind": r.kind,
                            "sae": r.sae,
                            "max_activation": r.max_activation,
                            "metrics": r.metrics,
                            "trie_nodes": len(r.trie_nodes),
                            "firing_tokens": r.firing_tokens,
                            "context_tokens": r.context_tokens,
                            "patterns": [{"pattern": p, "activation": a} for p, a in graph.patterns()],
                            **({"examples": _records(graph.examples())} if examples else {}),
                        }
                    ),
                    ensure_ascii=False,
                )
            )
            return
        typer.echo(_summary(graph))
        typer.echo(trie_to_text(graph.trie))
        if examples:
            _print_examples(graph)


def _print_examples(graph) -> None:
    from n2g_kb.views.examples import example_records, example_text

    rows = example_records(graph.result.examples)
    if not rows:
        console.print("No stored examples (dead or failed neurons keep none).", highlight=False)
        return
    scale = max([graph.result.max_activation, *(r["key_activation"] for r in rows)])
    for split in ("train", "test"):
        chosen = [r for r in rows if r["split"] == split]
        if not chosen:
            continue
        console.print(f"\n[bold]{split} examples[/bold] ({len(chosen)}; colour: activation / {scale:.2f}; ¶ = document boundary)")
        for r in chosen:
            line = Text()
            line.append(f"{r['key_activation']:6.2f}  ", style="dim")
            line.append_text(example_text(r, scale))
            console.print(line, soft_wrap=True, highlight=False)


def _summary(graph) -> str:
    from n2g_kb.views.tokens import display_token

    r = graph.result
    unit = {"sae_latent": "latent", "transcoder": "feature"}.get(r.kind, "neuron")
    lines = [f"{r.model}  layer {r.layer}  {unit} {r.index}  status {r.status}  max activation {r.max_activation:.3f}"]
    if r.error:
        lines.append(f"error: {r.error}")
    scores = [f"{k} {r.metrics[k]:.3f}" for k in ("f1", "precision", "recall") if k in r.metrics]
    lines.append("  ".join([*scores, f"trie nodes {len(r.trie_nodes)}", f"patterns {len(graph.trie.patterns())}"]))
    for label, tokens in (("fires on", r.firing_tokens), ("context", r.context_tokens)):
        if tokens:
            ranked = sorted(tokens.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(f"{label}: " + ", ".join(f"{display_token(t)} {v:.2f}" for t, v in ranked))
    return "\n".join(lines)


# --------------------------------------------------------------------------- queries


@queries_app.command("list")
def queries_list() -> None:
    """The queries of the library, with their parameters."""
    from n2g_kb.kb import library

    with cli_errors():
        table = Table(caption="Run one with `n2gkb queries run NAME --param k=v`; print it with `n2gkb queries show NAME`.")
        for column in ("name", "answers", "parameters"):
            table.add_column(column, overflow="fold")
        for name in library.query_names():
            params = ", ".join(f"${p}" for p in library.query_parameters(name))
            table.add_row(Text(name.removeprefix("query/")), Text(library.query_title(name)), Text(params))
        console.print(table)


@queries_app.command("show")
def queries_show(name: Annotated[str, typer.Argument(help="Query name, e.g. fires_on.")]) -> None:
    """Print a query's Cypher (header comment included), ready to paste into Neo4j Browser."""
    from n2g_kb.kb import cypher, library

    with cli_errors():
        typer.echo(cypher.load(library.full_name(name)), nl=False)


@queries_app.command("run")
def queries_run(
    name: Annotated[str, typer.Argument(help="Query name, e.g. fires_on (see `n2gkb queries list`).")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="NAME=VALUE, repeatable; VALUE as JSON or a Cypher literal (50, 0.5, null, true, 'paris', [\"to\"]), "
            "else text. Tokens are typed as stored (normalised: paris). Unset numbers, booleans and nulls "
            "take the header's value.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Run one query of the library unchanged, with its parameters, and print the rows."""
    from n2g_kb.kb import library

    with cli_errors():
        given = dict(library.parse_param(p) for p in param or [])
        full = library.full_name(name)
        params, defaulted = library.resolve_params(full, given)
        if defaulted:
            status("From the header: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in defaulted.items()))

        def work(store):
            import pandas as pd

            rows = store.read(full, **params)
            return pd.DataFrame.from_records(rows, columns=list(rows[0]) if rows else None)

        emit(_ask(uri, user, password, database, work), as_json, as_csv)


@queries_app.command("style")
def queries_style(
    path: Annotated[Path | None, typer.Argument(help="Write the style sheet here (default: print it).")] = None,
) -> None:
    """The Neo4j Browser style sheet (GraSS): trie nodes captioned by token, neurons as layer/index."""
    from n2g_kb.kb import cypher

    with cli_errors():
        text = (cypher.cypher_dir() / "browser.grass").read_text(encoding="utf-8")
        if path is None:
            typer.echo(text, nl=False)
            return
        path.write_text(text, encoding="utf-8")
        console.print(f"Wrote {path}: drop it on the Neo4j Browser window (or paste it after `:style`).", highlight=False)


@queries_app.command("export")
def queries_export(
    path: Annotated[Path, typer.Argument(help="The .zip to write.")] = Path("n2g-kb-queries.zip"),
) -> None:
    """Write the queries as a .zip that Neo4j Browser imports as saved scripts (Favorites)."""
    from n2g_kb.kb import library

    with cli_errors():
        output_path(path, "export to")
        try:
            written = library.export_browser_favorites(path)
        except OSError as e:
            raise output_error(path, "export to", e) from None
        console.print(
            f"Wrote {len(library.query_names())} queries to {written}. In Neo4j Browser open Favorites (the star), "
            "and drop the file on the import area (or drag it onto the window)."
        )


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the `n2gkb` app."""
    app.add_typer(search_app, name="search")
    app.command("fire")(fire)
    app.command("similar")(similar)
    app.command("show")(show)
    app.add_typer(queries_app, name="queries")
