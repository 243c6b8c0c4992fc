"""Questions across neurons: one helper per query of `cypher/query/`, answers as DataFrames.

Each helper validates its arguments, normalises tokens the way N2G stores them
(`n2g_kb.n2g.trie.normalise_token`: " Paris" -> "paris"), runs its `.cypher` file unchanged
through `Store.read` with every value as a parameter, and returns a `pandas.DataFrame`
whose columns are listed in `COLUMNS` (stable, also when there are no rows). A model
name that is not in the knowledge base raises `NotFoundError` naming the models that are.

`fire` answers "which neurons fire where in this text" from the stored graphs alone, with
N2G's prediction rule (`Trie.predict`), walking the tries in Cypher at every position (or,
with ``engine="python"``, fetching the candidate tries and predicting in Python); no
language model is involved. `fires_on_last` asks the same for the last token only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from n2g_kb.kb import cypher
from n2g_kb.errors import ConfigError, ModelError, NotFoundError
from n2g_kb.n2g.results import NeuronResult
from n2g_kb.n2g.trie import IGNORE, Trie, normalise_token

COLUMNS: dict[str, list[str]] = {
    "models": ["model", "neurons", "layers", "properties"],
    "units": ["model", "kind", "sae", "layer", "units", "ok", "dead", "failed"],
    "fires_on": ["model", "layer", "neuron", "token", "activation", "f1", "status"],
    "context": ["model", "layer", "neuron", "token", "context", "distance", "activation", "end_activation", "pattern"],
    "context_loose": ["model", "layer", "neuron", "token", "activation"],
    "last_token": ["model", "layer", "neuron", "activation", "length", "pattern"],
    "fire": ["position", "token", "model", "layer", "neuron", "activation", "pattern"],
    "similar": [
        "model", "layer", "neuron", "other_layer", "other_neuron", "similarity",
        "firing_jaccard", "context_jaccard", "shared_firing", "shared_context",
    ],
    "supersets": [
        "model", "superset_layer", "superset_neuron", "subset_layer", "subset_neuron", "shared_tokens", "extra_tokens",
    ],
    "polysemantic": ["model", "layer", "neuron", "n_groups", "groups", "context_free", "f1"],
    "repetition": ["model", "layer", "neuron", "token", "activation", "same_pattern", "distance"],
    "top_neurons": ["model", "layer", "neuron", "metric", "value", "f1", "precision", "recall", "trie_nodes", "status"],
    "layer_summary": [
        "model", "layer", "neurons", "ok", "dead", "failed", "evaluated",
        "mean_f1", "mean_precision", "mean_recall", "mean_trie_nodes", "trie_nodes",
    ],
}
"""The columns of each helper's DataFrame, in order."""

_SCORES = ("precision", "recall", "f1", "support")
METRICS: tuple[str, ...] = (
    *_SCORES,
    *(f"nonfiring_{s}" for s in _SCORES),
    *(f"baseline_{b}_{kind}{s}" for b in ("token", "ngram") for kind in ("", "nonfiring_") for s in _SCORES),
    "max_activation",
    "n_trie_nodes",
)
"""Neuron properties `top_neurons` ranks by (other baselines: `baseline_<name>_[nonfiring_]<score>`)."""
_BASELINE_METRIC = re.compile(r"^baseline_[a-z0-9]+_(nonfiring_)?(precision|recall|f1|support)$")

QUERY_FOLDER = "query"
TOKENIZER_PROPERTIES = ("tokenizer", "source", "name_or_path", "path")
"""Model node properties naming the tokenizer, in order of preference (else the model name);
`source` is the hub name or directory the ingest loaded the model from."""


# ----------------------------------------------------------------------------- plumbing


_INT_COLUMNS = {
    "layer", "neuron", "other_layer", "other_neuron", "superset_layer", "superset_neuron", "subset_layer",
    "subset_neuron", "distance", "length", "position", "neurons", "ok", "dead", "failed", "evaluated",
    "trie_nodes", "n_groups", "context_free",
}


def _frame(rows: list[dict[str, Any]], name: str) -> pd.DataFrame:
    """The rows as a DataFrame with the documented columns; integer columns are nullable
    ``Int64`` (so a missing distance stays an integer column)."""
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS[name])
    for column in frame.columns:
        if column in _INT_COLUMNS:
            frame[column] = frame[column].astype("Int64")
    return frame


def _token(token: str, what: str = "token") -> str:
    if not isinstance(token, str) or token == "":
        raise ConfigError(f"The {what} is empty; give the token as the model writes it, e.g. ' Paris'")
    normalised = normalise_token(token)
    if normalised == IGNORE:
        raise ConfigError(f"{IGNORE!r} is the wildcard, not a token; give a real {what}")
    return normalised


def _optional_int(value: int | None, what: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


def _int(value: int, what: str, minimum: int) -> int:
    if value is None:
        raise ConfigError(f"{what} must be an integer >= {minimum}, not None")
    checked = _optional_int(value, what, minimum)
    assert checked is not None
    return checked


def _limit(limit: int) -> int:
    return _int(limit, "limit", 1)


def _fraction(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} must be a number between 0 and 1, not {value!r}")
    return float(value)


def _filters(store, model: str | None, layer: int | None) -> dict[str, Any]:
    if model is not None:
        check_model(store, model)
    return {"model": model, "layer": _optional_int(layer, "layer")}


def check_model(store, model: str) -> dict[str, Any]:
    """`model`'s name and properties (one index seek); `NotFoundError` naming the stored
    models otherwise."""
    found = store.read("read/model", model=model)
    if found:
        return found[0]
    rows = store.read(f"{QUERY_FOLDER}/models")
    for row in rows:
        if row["model"] == model:
            return row
    known = ", ".join(repr(r["model"]) for r in rows) or "none yet"
    raise NotFoundError(
        f"No model {model!r} in the knowledge base (models: {known}); ingest it with `n2gkb ingest {model}`"
    )


def missing_neuron_message(store, model_row: dict[str, Any], layer: int, neuron: int) -> str:
    """Why `model` layer/neuron is not there, and only next steps that can work: the stored
    neurons of that layer, and an ingest command for the model's recorded source when the
    neuron exists in the model."""
    from n2g_kb.selection import format_ranges

    model = model_row["model"]
    props = model_row.get("properties") or {}
    n_layers, d_mlp = props.get("n_layers"), props.get("d_mlp")
    if "layers" not in model_row:
        model_row = next((r for r in store.read(f"{QUERY_FOLDER}/models") if r["model"] == model), model_row)
    stored_layers = model_row.get("layers") or []
    where = f"No neuron {model} layer {layer} #{neuron} in the knowledge base"
    if n_layers is not None and not 0 <= layer < int(n_layers):
        return f"{where}: {model} has {n_layers} layers (0-{int(n_layers) - 1}); stored layers: {format_ranges(stored_layers) or 'none'}"
    stored = sorted(store.neuron_status(model, layer)) if 0 <= layer else []
    listing = f"stored in layer {layer}: {format_ranges(stored)}" if stored else f"no neuron of layer {layer} is stored"
    if d_mlp is not None and not 0 <= neuron < int(d_mlp):
        return f"{where}: {model} has {d_mlp} neurons per layer (0-{int(d_mlp) - 1}); {listing}"
    source = props.get("source") or model
    name = f" --name {model}" if source != model else ""
    return f"{where} ({listing}); ingest it with `n2gkb ingest {source}{name} --layers {layer} --neurons {neuron}`"


def _memory_state(store, model: str | None) -> tuple[Any, int, list[str]]:
    """The knowledge base's (id, version, models) for an in-memory engine, in one read;
    an unknown `model` is checked as `check_model` does (one line naming the stored ones)."""
    state = store.kb_state()
    if model is not None and model not in state[2]:
        check_model(store, model)
    return state


def _check_neuron(store, model: str | None, layer: int | None, neuron: int | None) -> None:
    if model is None or layer is None or neuron is None:
        return
    if neuron not in store.neuron_status(model, layer):
        raise NotFoundError(missing_neuron_message(store, check_model(store, model), layer, neuron))


# ------------------------------------------------------------------------------ queries


def models(store) -> pd.DataFrame:
    """The ingested models: model, neurons (count), layers (list), properties (dict)."""
    return _frame(store.read(f"{QUERY_FOLDER}/models"), "models")


def units(store, *, kind: str | None = None) -> pd.DataFrame:
    """Stored units per model and layer, of one kind ('neuron', 'sae_latent',
    'transcoder') or all: model, kind, sae, layer, units, ok, dead, failed."""
    from n2g_kb.n2g.results import UNIT_KINDS

    if kind is not None and kind not in UNIT_KINDS:
        raise ConfigError(f"--kind {kind!r} is not a unit kind; use one of {', '.join(UNIT_KINDS)}")
    return _frame(store.read(f"{QUERY_FOLDER}/units", kind=kind), "units")


def _optional_limit(limit: int | None) -> int | None:
    return None if limit is None else _limit(limit)


def fires_on(
    store, token: str, *, model: str | None = None, layer: int | None = None, limit: int | None = None
) -> pd.DataFrame:
    """Neurons whose firing tokens include `token` (normalised), strongest first (at most
    `limit` of them; None: all)."""
    params = {"token": _token(token), **_filters(store, model, layer), "limit": _optional_limit(limit)}
    return _frame(store.read(f"{QUERY_FOLDER}/fires_on", **params), "fires_on")


def in_context(
    store,
    token: str,
    context: str | Sequence[str],
    *,
    distance: int | None = None,
    model: str | None = None,
    layer: int | None = None,
    loose: bool = False,
    limit: int | None = None,
) -> pd.DataFrame:
    """Neurons with a complete pattern that fires on `token` with `context` in it.

    `context` is one token or a sequence in text order, consecutive in the pattern, the
    last one nearest the firing token (``IGNORE`` matches wildcard nodes only);
    `distance` (1 = right before) pins where the last context token sits. With
    ``loose=True`` the neuron-level token-set search is run instead (query/context_loose:
    faster, ignores `distance`, and may return neurons whose pattern for `token` does not
    contain the context). `limit` keeps the strongest rows (path-aware search only).
    """
    items = [context] if isinstance(context, str) else list(context)
    if not items:
        raise ConfigError("Give at least one context token")
    normalised = [c if c == IGNORE else _token(c, "context token") for c in items]
    params: dict[str, Any] = {"token": _token(token), "context": normalised, **_filters(store, model, layer)}
    if loose:
        if distance is not None:
            raise ConfigError("A distance needs the path-aware search; drop loose (--loose)")
        return _frame(store.read(f"{QUERY_FOLDER}/context_loose", **params), "context_loose")
    params["distance"] = _optional_int(distance, "distance", 1)
    params["limit"] = _optional_limit(limit)
    return _frame(store.read(f"{QUERY_FOLDER}/context", **params), "context")


def fire_rows(records: Sequence[dict[str, Any]], tokens: Sequence[str]) -> list[dict[str, Any]]:
    """query/fire's compact records (one per position, parallel lists) as one row per
    (position, neuron): position, token, model, layer, neuron, activation, length, pattern
    (the winning pattern in text order, rebuilt from its shape and the normalised `tokens`)."""
    rows = []
    for r in records:
        p = r["position"]
        for model, layer, neuron, activation, shape in zip(r["models"], r["layers"], r["neurons"], r["activations"], r["shapes"]):
            pattern = [IGNORE if m == "1" else tokens[p - i] for i, m in enumerate(shape)][::-1]
            rows.append({"position": p, "token": r["token"], "model": model, "layer": layer, "neuron": neuron,
                         "activation": activation, "length": len(shape), "pattern": pattern})  # fmt: skip
    return rows


def _tokens(tokens: Sequence[str]) -> list[str]:
    if isinstance(tokens, str):
        raise ConfigError("Give the text as a list of tokens (tokenise it first, e.g. with `n2g_kb.kb.query.tokenize`)")
    tokens = list(tokens)
    if not tokens:
        raise ConfigError("The text has no tokens")
    if not all(isinstance(t, str) for t in tokens):
        raise ConfigError("Every token must be a string")
    return tokens


def fires_on_last(
    store,
    tokens: Sequence[str],
    *,
    model: str | None = None,
    layer: int | None = None,
    min_activation: float = 0.5,
    limit: int | None = None,
) -> pd.DataFrame:
    """Neurons whose graph predicts at least `min_activation` on the last of `tokens`.

    Same answers as `Trie.predict(tokens)[-1]` for every stored neuron, computed in Cypher
    (query/last_token); `pattern` is the winning pattern in text order.
    """
    normalised = [normalise_token(t) for t in _tokens(tokens)]
    params = {
        "tokens": normalised,
        "min_activation": _fraction(min_activation, "min_activation"),
        **_filters(store, model, layer),
        "limit": _optional_limit(limit),
    }
    return _frame(store.read(f"{QUERY_FOLDER}/last_token", **params), "last_token")


def fire(
    store,
    tokens: Sequence[str],
    *,
    model: str | None = None,
    layer: int | None = None,
    min_activation: float = 0.5,
    engine: str = "memory",
) -> pd.DataFrame:
    """Every stored neuron predicted to fire at each position of a tokenised text.

    Rows are (position, token, neuron, predicted activation, winning pattern) with
    activation >= `min_activation`, by position, then strongest first; `tokens` are the
    model's token strings (normalised here). No language model runs: the prediction comes
    from the stored graphs. ``engine="memory"`` (default) matches the text against every
    stored pattern merged into one in-memory table (`n2g_kb.kb.matcher`, rebuilt when the
    knowledge base changes, cached on disk); ``engine="cypher"`` asks Neo4j
    (query/fire); ``engine="python"`` fetches the tries of the neurons that fire on any
    token of the text (query/fire_candidates) and runs `Trie.predict` on them, the
    reference semantics (slower on large knowledge bases; `pattern` is None).
    """
    tokens = _tokens(tokens)
    threshold = _fraction(min_activation, "min_activation")
    if engine == "memory":
        from n2g_kb.kb.matcher import load_matcher

        state = _memory_state(store, model)
        filters = {"model": model, "layer": _optional_int(layer, "layer")}
        matcher = load_matcher(store, filters["model"], state=state)
        frame = matcher.fire(tokens, min_activation=threshold, model=filters["model"], layer=filters["layer"])
        return frame if len(frame) else _frame([], "fire")
    filters = _filters(store, model, layer)
    if engine == "cypher":
        normalised = [normalise_token(t) for t in tokens]
        records = store.read(f"{QUERY_FOLDER}/fire", tokens=normalised, min_activation=threshold, **filters)
        rows = fire_rows(records, normalised)
        for row in rows:
            row["token"] = tokens[row["position"]]
        return _frame(rows, "fire")
    if engine != "python":
        raise ConfigError(f"Unknown engine {engine!r}; use 'memory', 'cypher' or 'python'")
    normalised = sorted({normalise_token(t) for t in tokens})
    rows = []
    for candidate in store.read(f"{QUERY_FOLDER}/fire_candidates", tokens=normalised, **filters):
        trie = _trie(candidate["nodes"])
        for position, value in enumerate(trie.predict(tokens)):
            if value > 0.0 and value >= threshold:
                rows.append(
                    {
                        "position": position,
                        "token": tokens[position],
                        "model": candidate["model"],
                        "layer": candidate["layer"],
                        "neuron": candidate["neuron"],
                        "activation": value,
                        "pattern": None,
                    }
                )
    rows.sort(key=lambda r: (r["position"], -r["activation"], r["model"], r["layer"], r["neuron"]))
    return _frame(rows, "fire")


def similar(
    store,
    *,
    model: str | None = None,
    layer: int | None = None,
    neuron: int | None = None,
    threshold: float = 0.5,
    cross_layer_only: bool = False,
    limit: int = 50,
    engine: str = "memory",
) -> pd.DataFrame:
    """Pairs of neurons whose role-tagged token sets overlap (Jaccard) at least `threshold`.

    With `neuron` (and `layer`) the neurons similar to that one; without, all pairs
    within the filters. See cypher/query/similar.cypher for the exact definition.
    ``engine="memory"`` (default) counts overlaps in an in-memory index of every neuron's
    token sets (`n2g_kb.kb.similarity`, rebuilt when the knowledge base changes, cached on
    disk); ``engine="cypher"`` asks Neo4j (query/similar); the answers are the same.
    """
    threshold = _fraction(threshold, "threshold")
    neuron = _optional_int(neuron, "neuron")
    if engine == "memory":
        from n2g_kb.kb.similarity import load_token_sets

        state = _memory_state(store, model)
        layer = _optional_int(layer, "layer")
        sets = load_token_sets(store, model, state=state)
        if model is not None and layer is not None and neuron is not None and not sets.has(model, layer, neuron):
            _check_neuron(store, model, layer, neuron)
        return sets.similar(model=model, layer=layer, neuron=neuron, threshold=threshold,
                            cross_layer_only=bool(cross_layer_only), limit=_limit(limit))  # fmt: skip
    if engine != "cypher":
        raise ConfigError(f"Unknown engine {engine!r}; use 'memory' or 'cypher'")
    filters = _filters(store, model, layer)
    _check_neuron(store, model, layer, neuron)
    return _frame(
        store.read(
            f"{QUERY_FOLDER}/similar",
            **filters,
            neuron=neuron,
            threshold=threshold,
            cross_layer_only=bool(cross_layer_only),
            limit=_limit(limit),
        ),
        "similar",
    )


def supersets(
    store,
    *,
    model: str | None = None,
    layer: int | None = None,
    neuron: int | None = None,
    cross_layer_only: bool = False,
    limit: int = 50,
) -> pd.DataFrame:
    """Pairs where one neuron's firing tokens strictly contain another's (filters pick
    a neuron on either side)."""
    filters = _filters(store, model, layer)
    neuron = _optional_int(neuron, "neuron")
    _check_neuron(store, model, layer, neuron)
    return _frame(
        store.read(
            f"{QUERY_FOLDER}/supersets",
            **filters,
            neuron=neuron,
            cross_layer_only=bool(cross_layer_only),
            limit=_limit(limit),
        ),
        "supersets",
    )


def polysemantic(
    store, *, model: str | None = None, layer: int | None = None, min_groups: int = 2, limit: int = 50
) -> pd.DataFrame:
    """Neurons whose firing tokens form at least `min_groups` groups sharing no context."""
    min_groups = _int(min_groups, "min_groups", 1)
    return _frame(
        store.read(f"{QUERY_FOLDER}/polysemantic", **_filters(store, model, layer), min_groups=min_groups, limit=_limit(limit)),
        "polysemantic",
    )


def repetition(
    store, *, model: str | None = None, layer: int | None = None, same_pattern: bool = False, limit: int = 50
) -> pd.DataFrame:
    """Neurons with a token that is both firing and context (`same_pattern`: in one pattern)."""
    return _frame(
        store.read(
            f"{QUERY_FOLDER}/repetition",
            **_filters(store, model, layer),
            same_pattern=bool(same_pattern),
            limit=_limit(limit),
        ),
        "repetition",
    )


def check_metric(metric: str) -> str:
    if metric in METRICS or (isinstance(metric, str) and _BASELINE_METRIC.match(metric)):
        return metric
    raise ConfigError(f"Unknown metric {metric!r}; use one of: {', '.join(METRICS)}")


def top_neurons(
    store, *, metric: str = "f1", model: str | None = None, layer: int | None = None, limit: int = 20
) -> pd.DataFrame:
    """The neurons with the highest `metric` (a Neuron property from `METRICS`)."""
    return _frame(
        store.read(
            f"{QUERY_FOLDER}/top_neurons", metric=check_metric(metric), **_filters(store, model, layer), limit=_limit(limit)
        ),
        "top_neurons",
    )


def layer_summary(store, *, model: str | None = None) -> pd.DataFrame:
    """Per model and layer: neuron counts by status, mean scores, trie sizes."""
    if model is not None:
        check_model(store, model)
    return _frame(store.read(f"{QUERY_FOLDER}/layer_summary", model=model), "layer_summary")


# ----------------------------------------------------------------------- one neuron


@dataclass(frozen=True)
class NeuronGraph:
    """One stored neuron: everything the store holds (`result`) and its trie as a `Trie`."""

    result: NeuronResult
    trie: Trie

    @property
    def key(self) -> tuple[str, int, int]:
        return self.result.key

    def patterns(self) -> list[tuple[list[str], float]]:
        """Each complete pattern in text order (firing token last), with its activation."""
        return [(list(reversed(tokens)), activation) for tokens, activation in self.trie.patterns()]

    def examples(self) -> pd.DataFrame:
        """The stored examples, train then test (columns `EXAMPLE_COLUMNS`; see `examples`)."""
        from n2g_kb.views.examples import EXAMPLE_COLUMNS, example_records

        return pd.DataFrame.from_records(example_records(self.result.examples), columns=EXAMPLE_COLUMNS)

    def _repr_html_(self) -> str:
        """The notebook view: metrics, the drawn graph (SVG, with Graphviz) and the examples."""
        from n2g_kb.views.notebook import neuron_html

        return neuron_html(self)


def _trie(rows: list[dict[str, Any]]) -> Trie:
    return Trie.from_rows(rows) if rows else Trie()


def load_graph(store, model: str, layer: int, neuron: int) -> NeuronGraph:
    """One neuron's stored graph (trie, examples, metrics); `NotFoundError` if absent,
    naming the neurons that are stored (and those that exist) in that layer."""
    row = check_model(store, model)
    try:
        result = store.load_neuron(model, layer, neuron)
    except NotFoundError:
        raise NotFoundError(missing_neuron_message(store, row, layer, neuron)) from None
    return NeuronGraph(result=result, trie=_trie(result.trie_nodes))


def examples(store, model: str, layer: int, neuron: int, *, split: str | None = None) -> pd.DataFrame:
    """One neuron's stored examples, one row each (train first): split, idx, key_position
    (the highest activation), key_token, key_activation, start/end (the key token's
    document inside the window), tokens, activations (raw) and text (the document part)."""
    if split not in (None, "train", "test"):
        raise ConfigError(f"split must be 'train', 'test' or None, not {split!r}")
    frame = load_graph(store, model, layer, neuron).examples()
    return frame if split is None else frame[frame["split"] == split].reset_index(drop=True)


def load_trie(store, model: str, layer: int, neuron: int) -> Trie:
    """One neuron's trie, read with query/neuron_graph (an empty trie for dead neurons)."""
    check_model(store, model)
    rows = store.read(f"{QUERY_FOLDER}/neuron_graph", model=model, layer=layer, neuron=neuron)
    if not rows:
        _check_neuron(store, model, layer, neuron)
    return _trie([row["node"] for row in rows])


# ------------------------------------------------------------------------ tokenising


def tokenizer_name(store, model: str) -> str:
    """The tokenizer to use for `model`: a Model property from `TOKENIZER_PROPERTIES`, else its name."""
    properties = check_model(store, model).get("properties") or {}
    for key in TOKENIZER_PROPERTIES:
        if properties.get(key):
            return str(properties[key])
    return model


def load_tokenizer(name_or_path: str):
    """A HuggingFace tokenizer; `ModelError` with what to do if it cannot be loaded."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as e:  # transformers raises OSError, ValueError, HF hub errors...
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"Cannot load the tokenizer {name_or_path!r} ({detail}); pass --tokenizer with a local "
            "tokenizer directory or hub name, or give the tokens yourself with --tokens"
        ) from e


def tokenize(text: str, tokenizer) -> list[str]:
    """`text` as the model's token strings, each decoded on its own (e.g. ' Paris'; byte pieces as hex)."""
    from n2g_kb.lm.tokens import token_strings

    return token_strings(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])


# ------------------------------------------------------------------ the query library

from n2g_kb.kb.library import export_browser_favorites, query_names, query_parameters, query_title  # noqa: E402,F401
