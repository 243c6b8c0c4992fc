"""Scoring the stored graphs: predictions of each neuron's trie against its real activations.

Two kinds of evaluation, one scoring rule (`n2g_kb.n2g.metrics`):

* held-out (`evaluate_stored`): each neuron's trie, read back from Neo4j, predicts the
  activations of the neuron's test examples stored at ingest; the token-lookup and n-gram
  baselines are fitted on its train examples (the top examples' training split). When the
  neuron also holds held-out random text (examples with split "random", set aside by the
  mining pass), it is scored there too, under keys prefixed ``random_`` (random_f1,
  random_baseline_token_f1, ...), so false positives on ordinary text count. The figures are written back onto the
  Neuron (same keys as extraction: precision, recall, f1, nonfiring_*, baseline_token_*,
  baseline_ngram_*, with ``evaluated_at`` and ``eval_settings_json``).
* new text (`evaluate_on_corpus`): the model runs over a corpus for ground truth on the
  same neurons (normalised by each neuron's stored max activation) and the stored tries
  and baselines predict there. These figures are stored under the prefix ``corpus_``
  (corpus_f1, corpus_baseline_token_f1, ...; ``corpus_evaluated_at``,
  ``corpus_eval_settings_json``) so they never overwrite the held-out ones.

The pure core is `score_examples` / `evaluate_neuron`: the exact computation extraction
uses for `NeuronResult.metrics`, so a graph loaded from Neo4j scores the same as the one
built in memory. Neurons that cannot be scored (dead, failed, no graph, no test
examples, an inconsistent stored trie) are skipped with a reason, never crashed on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from n2g_kb import __version__
from n2g_kb.errors import ConfigError, CorpusError, N2GKBError, NotFoundError
from n2g_kb.n2g.metrics import (
    NGramBaseline,
    TokenLookupBaseline,
    normalise,
    score_examples,
    scores_from_counts,
)
from n2g_kb.n2g.results import NeuronResult
from n2g_kb.selection import format_ranges
from n2g_kb.n2g.trie import Trie, TrieRowsError

Progress = Callable[[str, int, int], None]
Kind = Literal["held-out", "corpus"]
CORPUS_PREFIX = "corpus_"
RANDOM_PREFIX = "random_"


class NotEvaluableError(N2GKBError):
    """A neuron lacks what scoring needs (graph, examples, a positive max activation)."""


@dataclass(frozen=True)
class EvalSettings:
    """How predictions are scored.

    threshold: a token fires when its normalised activation is >= this, for truth and
        prediction alike (the paper's 0.5; extraction's `N2GConfig.fire_threshold`).
    ngram_context: prior tokens the n-gram baseline conditions on (extraction's
        `N2GConfig.ngram_context`).
    batch_size: neurons read from / written to Neo4j per transaction.
    """

    threshold: float = 0.5
    ngram_context: int = 1
    batch_size: int = 256

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"--threshold {self.threshold} is invalid; use a fraction of the max activation in (0, 1], e.g. 0.5")
        if self.ngram_context < 0:
            raise ConfigError(f"--ngram-context {self.ngram_context} is invalid; use 0 or more tokens, e.g. 1")
        if self.batch_size < 1:
            raise ConfigError(f"evaluation batch size {self.batch_size} is invalid; use 1 or more neurons")

    def provenance(self) -> dict[str, Any]:
        """What is stored with the figures (`eval_settings_json`)."""
        return {"threshold": self.threshold, "ngram_context": self.ngram_context, "n2g_kb_version": __version__}


@dataclass(frozen=True)
class CorpusOptions:
    """How new text is cut and run: windows of `context` corpus tokens (BOS first when
    `prepend_bos`, as mining does), at most `max_tokens` tokens, `batch_size` windows per
    forward pass. The BOS position is never scored (its activation is an artefact)."""

    context: int = 64
    max_tokens: int = 20_000
    batch_size: int = 16
    prepend_bos: bool = True

    def __post_init__(self) -> None:
        if self.context < 2:
            raise ConfigError(f"--context {self.context} is too small; use at least 2 tokens, e.g. 64")
        if self.max_tokens < self.context:
            raise ConfigError(f"--max-tokens {self.max_tokens} is below one window of {self.context} tokens; raise it")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} is too small; use 1 or more windows")


@dataclass(frozen=True)
class NeuronScore:
    """One neuron's figures, or why it was skipped (then `metrics` is empty)."""

    layer: int
    index: int
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def evaluated(self) -> bool:
        return self.skipped is None


@dataclass
class Evaluation:
    """The outcome of one evaluation: every selected neuron, scored or skipped."""

    model: str
    kind: Kind
    settings: dict[str, Any]
    neurons: list[NeuronScore]
    evaluated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    written: int = 0

    @property
    def scored(self) -> list[NeuronScore]:
        return [n for n in self.neurons if n.evaluated]

    @property
    def skipped(self) -> list[NeuronScore]:
        return [n for n in self.neurons if not n.evaluated]


# -- the pure core -----------------------------------------------------------------------


def skip_reason(
    status: str | None,
    error: str | None,
    max_activation: float | None,
    has_graph: bool,
    n_test: int | None = None,
) -> str | None:
    """Why a neuron cannot be scored, or None. `n_test=None` means test examples are not
    needed (evaluation on a corpus). A reason reads "<kind>: <detail>" (kinds: dead,
    failed, no max activation, no graph, no test examples; later also bad graph, gone)."""
    if status == "dead":
        return "dead: the neuron never fired on the mining corpus"
    if status == "failed":
        return f"failed: {error or 'extraction failed without an error message'}"
    if max_activation is None or not max_activation > 0:
        return "no max activation: no positive max activation is stored; re-ingest this neuron"
    if not has_graph:
        return "no graph: no trie is stored; re-ingest this neuron"
    if n_test is not None and n_test == 0:
        return "no test examples: no held-out examples are stored; re-ingest with at least 2 examples per neuron"
    return None


def _result_skip_reason(result: NeuronResult, need_test: bool) -> str | None:
    n_test = sum(1 for e in result.examples if e.split == "test") if need_test else None
    return skip_reason(result.status, result.error, result.max_activation, bool(result.trie_nodes), n_test)


def evaluate_neuron(result: NeuronResult, settings: EvalSettings = EvalSettings()) -> dict[str, float]:
    """Figures of one neuron's trie (`result.trie_nodes`) on its test examples.

    Raises `NotEvaluableError` when the neuron cannot be scored and `TrieRowsError` when
    its trie rows are inconsistent.
    """
    reason = _result_skip_reason(result, need_test=True)
    if reason is not None:
        raise NotEvaluableError(f"{result.model} layer {result.layer} #{result.index}: {reason}")
    trie = Trie.from_rows(result.trie_nodes)
    train = [e for e in result.examples if e.split == "train"]
    options = {"threshold": settings.threshold, "ngram_context": settings.ngram_context}
    metrics = score_examples(
        trie, train, [e for e in result.examples if e.split == "test"], result.max_activation, **options
    )
    heldout = [e for e in result.examples if e.split == "random"]
    if heldout:
        scored = score_examples(trie, train, heldout, result.max_activation, **options)
        metrics.update({RANDOM_PREFIX + k: v for k, v in scored.items()})
    return metrics


def _flat(prefix: str, tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for cls, scores in (("", scores_from_counts(tp, fp, fn)), ("nonfiring_", scores_from_counts(tn, fn, fp))):
        out[f"{prefix}{cls}precision"] = scores.precision
        out[f"{prefix}{cls}recall"] = scores.recall
        out[f"{prefix}{cls}f1"] = scores.f1
        out[f"{prefix}{cls}support"] = float(scores.support)
    return out


class Tally:
    """Confusion counts of one neuron's predictors, accumulated text by text.

    Counts the way `n2g_kb.n2g.metrics.firing_scores` does (a token fires when its value is
    >= threshold), so `metrics()` equals `metrics_dict` over all the texts at once
    without keeping them. Predictor ``n2g`` gives the unprefixed keys, any other name
    ``baseline_{name}_``.
    """

    def __init__(self, names: Sequence[str] = ("n2g", "token", "ngram"), threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.counts = {name: np.zeros(4, dtype=np.int64) for name in names}  # tp, fp, fn, tn
        self.tokens = 0

    def add(self, truth: Sequence[float], predictions: Mapping[str, Sequence[float]]) -> None:
        fires = np.asarray(truth, dtype=np.float64) >= self.threshold
        for name, counts in self.counts.items():
            predicted = np.asarray(predictions[name], dtype=np.float64) >= self.threshold
            if predicted.shape != fires.shape:
                raise ValueError(f"{name}: {predicted.shape[0]} predictions for {fires.shape[0]} tokens")
            counts += (
                int(np.sum(fires & predicted)),
                int(np.sum(~fires & predicted)),
                int(np.sum(fires & ~predicted)),
                int(np.sum(~fires & ~predicted)),
            )
        self.tokens += len(fires)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, (tp, fp, fn, tn) in self.counts.items():
            out.update(_flat("" if name == "n2g" else f"baseline_{name}_", int(tp), int(fp), int(fn), int(tn)))
        out["n_tokens"] = float(self.tokens)
        return out


# -- reading the selection ---------------------------------------------------------------


def select_neurons(
    store: Any, model: str, layers: Sequence[int] | None = None, neurons: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The stored neurons of `model` in `layers` / `neurons` (None = all), with status and
    what they hold. Raises `NotFoundError` (saying what is stored) when none match."""
    rows = store.read(
        "eval/neurons",
        model=model,
        layers=list(layers) if layers is not None else None,
        neurons=list(neurons) if neurons is not None else None,
    )
    if rows:
        return rows
    info = store.read("eval/model", model=model)[0]
    if not info["neurons"]:
        raise NotFoundError(
            f"No neurons of model {model!r} in the knowledge base; ingest some first, e.g. `n2gkb ingest {model} --layers 0`"
        )
    asked = []
    if layers is not None:
        asked.append(f"--layers {format_ranges(layers)}")
    if neurons is not None:
        asked.append(f"--neurons {format_ranges(neurons)}")
    raise NotFoundError(
        f"No stored neurons of {model} match {' '.join(asked)}; the knowledge base holds layers "
        f"{format_ranges(info['layers'])} of this model"
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load(store: Any, model: str, rows: Sequence[Mapping[str, Any]]) -> list[NeuronResult]:
    from n2g_kb.kb.store import result_from_record

    records = store.read("eval/neurons_load", model=model, keys=[{"layer": r["layer"], "index": r["index"]} for r in rows])
    return [result_from_record(record) for record in records]


def _in_order(rows: Sequence[Mapping[str, Any]], scores: Mapping[tuple[int, int], NeuronScore]) -> list[NeuronScore]:
    gone = "gone: removed from the knowledge base while evaluating"
    return [scores.get((r["layer"], r["index"])) or NeuronScore(r["layer"], r["index"], skipped=gone) for r in rows]


def _bad_graph(e: TrieRowsError) -> str:
    return f"bad graph: {e}"


# -- held-out evaluation -----------------------------------------------------------------


def evaluate_stored(
    store: Any,
    model: str,
    layers: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
    settings: EvalSettings = EvalSettings(),
    *,
    write: bool = True,
    progress: Progress | None = None,
) -> Evaluation:
    """Scores every selected neuron's stored graph on its stored test examples and (when
    `write`) stores the figures on its Neuron node, batch by batch."""
    rows = select_neurons(store, model, layers, neurons)
    scores: dict[tuple[int, int], NeuronScore] = {}
    todo = []
    for row in rows:
        reason = skip_reason(row["status"], row["error"], row["max_activation"], row["has_graph"], row["n_test"])
        if reason is None:
            todo.append(row)
        else:
            scores[(row["layer"], row["index"])] = NeuronScore(row["layer"], row["index"], skipped=reason)
    provenance = json.dumps({**settings.provenance(), "data": "held-out test examples"}, sort_keys=True)
    written = done = 0
    if progress:
        progress("evaluate", 0, len(todo))
    for batch in _chunks(todo, settings.batch_size):
        out = []
        for result in _load(store, model, batch):
            key = (result.layer, result.index)
            reason = _result_skip_reason(result, need_test=True)
            if reason is not None:  # changed since it was listed
                scores[key] = NeuronScore(*key, skipped=reason)
                continue
            try:
                scores[key] = NeuronScore(*key, metrics=evaluate_neuron(result, settings))
            except TrieRowsError as e:
                scores[key] = NeuronScore(*key, skipped=_bad_graph(e))
                continue
            out.append({"layer": result.layer, "index": result.index, "metrics": scores[key].metrics})
        if write and out:
            written += store.write("eval/write_metrics", model=model, rows=out, settings=provenance)[0]["written"]
        done += len(batch)
        if progress:
            progress("evaluate", done, len(todo))
    ordered = _in_order(rows, scores)
    return Evaluation(model, "held-out", json.loads(provenance), ordered, written=written)


# -- evaluation on new text --------------------------------------------------------------


@dataclass
class _Target:
    """One neuron scored on new text: its trie, baselines and running counts."""

    layer: int
    index: int
    max_activation: float
    trie: Trie
    token: TokenLookupBaseline
    ngram: NGramBaseline
    tally: Tally


def _target(result: NeuronResult, settings: EvalSettings) -> _Target:
    train = [e for e in result.examples if e.split == "train"]
    tokens = [e.tokens for e in train]
    acts = [normalise(e.activations, result.max_activation) for e in train]
    return _Target(
        layer=result.layer,
        index=result.index,
        max_activation=result.max_activation,
        trie=Trie.from_rows(result.trie_nodes),
        token=TokenLookupBaseline().fit(tokens, acts),
        ngram=NGramBaseline(settings.ngram_context, settings.threshold).fit(tokens, acts),
        tally=Tally(threshold=settings.threshold),
    )


def corpus_windows(model: Any, documents: Iterable[str], options: CorpusOptions) -> Iterator[list[int]]:
    """The documents as windows of token ids (no BOS), cut as ingest cuts its mining
    corpus: documents joined by the tokenizer's EOS token (else BOS)."""
    from n2g_kb.runners.corpus import token_windows

    eos = getattr(model.tokenizer, "eos_token_id", None)
    separator = int(eos) if eos is not None else int(model.bos_token_id)
    return token_windows(documents, model.to_tokens_batch, separator, options.context, max_tokens=options.max_tokens)


def model_source(store: Any, model: str) -> str:
    """Where to load a stored model from: its Model node's `source` (the name or local
    directory ingest loaded it from), else the stored name itself."""
    props = store.read("eval/model", model=model)[0]["model"] or {}
    return str(props.get("source") or model)


def sae_source(store: Any, model: str) -> str | None:
    """Where a stored model's SAE loads from (its Model node's `sae_source`), or None
    when its units are MLP neurons."""
    props = store.read("eval/model", model=model)[0]["model"] or {}
    return str(props["sae_source"]) if props.get("sae_source") else None


def _pad(windows: Sequence[Sequence[int]], prefix: list[int], pad_id: int) -> tuple[Int[Tensor, "batch pos"], list[int]]:
    rows = [prefix + list(w) for w in windows]
    tokens = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return tokens, [len(r) for r in rows]


def _gather(acts: Float[Tensor, "batch pos d_mlp"], neurons: Sequence[int]) -> Float[np.ndarray, "batch pos neuron"]:
    index = torch.tensor(list(neurons), dtype=torch.long, device=acts.device)
    return acts.index_select(2, index).float().cpu().numpy()


def _score_batch(model: Any, targets: Mapping[int, list[_Target]], windows: Sequence[Sequence[int]], prefix: list[int]) -> None:
    tokens, lengths = _pad(windows, prefix, model.pad_token_id)
    acts = model.layer_activations(tokens, sorted(targets))
    first = len(prefix)
    for layer, layer_targets in targets.items():
        values = _gather(acts[layer], [t.index for t in layer_targets])
        for b, length in enumerate(lengths):
            text = model.to_str_tokens(tokens[b, :length].tolist())
            for i, t in enumerate(layer_targets):
                truth = normalise(values[b, :length, i].tolist(), t.max_activation)
                t.tally.add(
                    truth[first:],
                    {
                        "n2g": t.trie.predict(text)[first:],
                        "token": t.token.predict(text)[first:],
                        "ngram": t.ngram.predict(text)[first:],
                    },
                )


def evaluate_on_corpus(
    store: Any,
    model: Any,
    model_name: str,
    windows: Iterable[Sequence[int]],
    layers: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
    settings: EvalSettings = EvalSettings(),
    options: CorpusOptions = CorpusOptions(),
    *,
    corpus: Mapping[str, Any] | None = None,
    write: bool = True,
    progress: Progress | None = None,
) -> Evaluation:
    """Scores the stored graphs of `model_name`'s selected neurons on new text.

    `model` (a `LoadedModel`) gives the ground truth: its activations on `windows` (token
    ids without BOS, e.g. `corpus_windows`), normalised by each neuron's stored max
    activation. Baselines are fitted on each neuron's stored train examples. With `write`,
    the figures are stored with the prefix ``corpus_``; `corpus` describes the text in the
    stored settings.
    """
    rows = select_neurons(store, model_name, layers, neurons)
    scores: dict[tuple[int, int], NeuronScore] = {}
    todo = []
    for row in rows:
        reason = skip_reason(row["status"], row["error"], row["max_activation"], row["has_graph"])
        if reason is None:
            todo.append(row)
        else:
            scores[(row["layer"], row["index"])] = NeuronScore(row["layer"], row["index"], skipped=reason)
    prefix = [model.bos_token_id] if options.prepend_bos else []
    if options.context + len(prefix) > model.n_ctx:
        raise ConfigError(
            f"--context {options.context} does not fit the model's context of {model.n_ctx} tokens (BOS included); "
            f"use at most {model.n_ctx - len(prefix)}"
        )
    for row in todo:
        model.check_layer(row["layer"])
        if not 0 <= row["index"] < model.d_mlp:
            raise ConfigError(
                f"stored neuron {row['layer']}/#{row['index']} does not exist in the loaded model (d_mlp={model.d_mlp}); "
                "pass --model-path to the model that was ingested"
            )
    targets: dict[int, list[_Target]] = {}
    for batch in _chunks(todo, settings.batch_size):
        for result in _load(store, model_name, batch):
            try:
                target = _target(result, settings)
            except TrieRowsError as e:
                scores[(result.layer, result.index)] = NeuronScore(result.layer, result.index, skipped=_bad_graph(e))
                continue
            targets.setdefault(result.layer, []).append(target)
    n_tokens = 0
    if targets:
        batch: list[Sequence[int]] = []
        if progress:
            progress("corpus", 0, options.max_tokens)
        for window in windows:
            batch.append(window)
            if len(batch) == options.batch_size:
                _score_batch(model, targets, batch, prefix)
                n_tokens += sum(len(w) for w in batch)
                batch = []
                if progress:
                    progress("corpus", n_tokens, options.max_tokens)
        if batch:
            _score_batch(model, targets, batch, prefix)
            n_tokens += sum(len(w) for w in batch)
        if progress:
            progress("corpus", n_tokens, n_tokens)
        if n_tokens == 0:
            raise CorpusError("the corpus has no text to evaluate on; pass a corpus with text in it")
    for layer_targets in targets.values():
        for t in layer_targets:
            scores[(t.layer, t.index)] = NeuronScore(t.layer, t.index, metrics=t.tally.metrics())
    provenance = {
        **settings.provenance(),
        "data": "corpus",
        "corpus": dict(corpus or {}),
        "context": options.context,
        "max_tokens": options.max_tokens,
        "prepend_bos": options.prepend_bos,
        "tokens_scored": n_tokens,
    }
    ordered = _in_order(rows, scores)
    written = 0
    if write:
        out = [
            {"layer": s.layer, "index": s.index, "metrics": {CORPUS_PREFIX + k: v for k, v in s.metrics.items()}}
            for s in ordered
            if s.evaluated
        ]
        text = json.dumps(provenance, sort_keys=True, default=str)
        for chunk in _chunks(out, settings.batch_size):
            written += store.write("eval/write_corpus_metrics", model=model_name, rows=list(chunk), settings=text)[0]["written"]
    return Evaluation(model_name, "corpus", provenance, ordered, written=written)


__all__ = [
    "CORPUS_PREFIX",
    "CorpusOptions",
    "EvalSettings",
    "Evaluation",
    "NeuronScore",
    "NotEvaluableError",
    "Tally",
    "corpus_windows",
    "evaluate_neuron",
    "evaluate_on_corpus",
    "evaluate_stored",
    "model_source",
    "sae_source",
    "normalise",
    "score_examples",
    "select_neurons",
    "skip_reason",
]
