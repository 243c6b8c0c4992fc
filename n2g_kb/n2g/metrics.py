"""Scoring predicted activations against a neuron's real ones, and the paper's baselines.

All activations here are normalised (divided by the neuron's max activation). A token
*fires* when its normalised activation is ``>= threshold`` (0.5 in the paper), for truth
and prediction alike.

Scores per class (``firing`` and ``nonfiring``), from counts of true positives (tp),
false positives (fp) and false negatives (fn) of that class:

* precision = tp / (tp + fp); 1.0 when nothing was predicted in the class (no false
  claims; the reference's summary also counts "predicted nothing" as precision 1.0).
* recall = tp / (tp + fn); 1.0 when the class has no true members (nothing to miss).
* f1 = 2 p r / (p + r); 0.0 when p + r = 0. So a neuron with firing tokens of which none
  were predicted scores precision 1, recall 0, F1 0; a neuron with no firing tokens in
  truth or prediction scores 1, 1, 1 with support 0 (the reference leaves such neurons
  out of its averages: filter on ``support > 0`` to do the same).
* support = tp + fn, the number of true members of the class.

Baselines, as in the reference code:

* ``TokenLookupBaseline``: each training token (exact text) predicts the highest
  normalised activation it had anywhere in the training examples; unseen tokens 0.
* ``NGramBaseline``: remembers the windows (the token and the ``prior_context`` tokens
  before it, fewer at the start of a text) that ended on a firing token in training, with
  their highest activation; a window seen there predicts that activation, anything else
  0. The reference's default is ``prior_context = 1`` (bigrams). The reference compared
  the raw activation with the threshold when fitting; here the normalised one is used, as
  everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from n2g_kb.n2g.results import Example

Activations = Sequence[Sequence[float]]
Tokens = Sequence[Sequence[str]]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one class; support = number of true members."""

    precision: float
    recall: float
    f1: float
    support: int


def scores_from_counts(tp: int, fp: int, fn: int) -> Scores:
    """Scores of one class from its counts (see the module docstring for empty cases)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision=precision, recall=recall, f1=f1, support=tp + fn)


def _check_shapes(true_acts: Activations, pred_acts: Activations) -> None:
    if len(true_acts) != len(pred_acts):
        raise ValueError(f"{len(true_acts)} true examples but {len(pred_acts)} predicted")
    for i, (truth, pred) in enumerate(zip(true_acts, pred_acts)):
        if len(truth) != len(pred):
            raise ValueError(f"example {i}: {len(truth)} true activations, {len(pred)} predicted")


def firing_scores(
    true_acts: Activations, pred_acts: Activations, threshold: float = 0.5
) -> dict[str, Scores]:
    """``{"firing": Scores, "nonfiring": Scores}`` over every token of every example."""
    _check_shapes(true_acts, pred_acts)
    tp = fp = fn = tn = 0
    for truth, pred in zip(true_acts, pred_acts):
        for t, p in zip(truth, pred):
            fires, predicted = float(t) >= threshold, float(p) >= threshold
            if fires and predicted:
                tp += 1
            elif predicted:
                fp += 1
            elif fires:
                fn += 1
            else:
                tn += 1
    return {
        "firing": scores_from_counts(tp, fp, fn),
        "nonfiring": scores_from_counts(tn, fn, fp),
    }


def _check_examples(tokens: Tokens, activations: Activations) -> None:
    if len(tokens) != len(activations):
        raise ValueError(f"{len(tokens)} token lists but {len(activations)} activation lists")
    for i, (toks, acts) in enumerate(zip(tokens, activations)):
        if len(toks) != len(acts):
            raise ValueError(f"example {i}: {len(toks)} tokens but {len(acts)} activations")


class TokenLookupBaseline:
    """Predicts for each token the highest normalised activation it had in training."""

    def __init__(self) -> None:
        self.table: dict[str, float] = {}

    def fit(self, tokens: Tokens, activations: Activations) -> TokenLookupBaseline:
        _check_examples(tokens, activations)
        for toks, acts in zip(tokens, activations):
            for token, act in zip(toks, acts):
                self.table[token] = max(self.table.get(token, float(act)), float(act))
        return self

    def predict(self, tokens: Sequence[str]) -> list[float]:
        return [self.table.get(token, 0.0) for token in tokens]


class NGramBaseline:
    """Predicts activation from the window of ``prior_context + 1`` tokens ending at each
    token."""

    def __init__(self, prior_context: int = 1, activation_threshold: float = 0.5) -> None:
        if prior_context < 0:
            raise ValueError(f"prior_context must be 0 or more, got {prior_context}")
        self.prior_context = prior_context
        self.activation_threshold = activation_threshold
        self.table: dict[tuple[str, ...], float] = {}

    def _window(self, tokens: Sequence[str], j: int) -> tuple[str, ...]:
        return tuple(tokens[max(0, j - self.prior_context) : j + 1])

    def fit(self, tokens: Tokens, activations: Activations) -> NGramBaseline:
        _check_examples(tokens, activations)
        for toks, acts in zip(tokens, activations):
            for j, act in enumerate(acts):
                act = float(act)
                if act < self.activation_threshold:
                    continue
                key = self._window(toks, j)
                self.table[key] = max(self.table.get(key, act), act)
        return self

    def predict(self, tokens: Sequence[str]) -> list[float]:
        return [self.table.get(self._window(tokens, j), 0.0) for j in range(len(tokens))]


class Predictor(Protocol):
    def predict(self, tokens: Sequence[str]) -> list[float]: ...


def _flat(prefix: str, scores: dict[str, Scores]) -> dict[str, float]:
    out: dict[str, float] = {}
    for cls, name in (("firing", ""), ("nonfiring", "nonfiring_")):
        s = scores[cls]
        out[f"{prefix}{name}precision"] = s.precision
        out[f"{prefix}{name}recall"] = s.recall
        out[f"{prefix}{name}f1"] = s.f1
        out[f"{prefix}{name}support"] = float(s.support)
    return out


def metrics_dict(
    true_acts: Activations,
    pred_acts: Activations,
    baseline_preds: dict[str, Activations] | None = None,
    *,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Flat figures for storage.

    Keys: precision, recall, f1, support and nonfiring_precision, nonfiring_recall,
    nonfiring_f1, nonfiring_support; for each ``name`` in ``baseline_preds`` the same
    prefixed ``baseline_{name}_`` (e.g. baseline_token_f1, baseline_ngram_nonfiring_f1).
    """
    out = _flat("", firing_scores(true_acts, pred_acts, threshold))
    for name, preds in (baseline_preds or {}).items():
        out.update(_flat(f"baseline_{name}_", firing_scores(true_acts, preds, threshold)))
    return out


def evaluate(
    model: Predictor,
    train_tokens: Tokens,
    train_acts: Activations,
    test_tokens: Tokens,
    test_acts: Activations,
    *,
    threshold: float = 0.5,
    ngram_context: int = 1,
) -> dict[str, float]:
    """Score ``model`` (e.g. a ``Trie``) on the test examples next to both baselines fitted
    on the training examples; returns ``metrics_dict`` with baselines ``token`` and
    ``ngram``. Activations are normalised."""
    _check_examples(test_tokens, test_acts)
    token = TokenLookupBaseline().fit(train_tokens, train_acts)
    ngram = NGramBaseline(ngram_context, threshold).fit(train_tokens, train_acts)
    return metrics_dict(
        test_acts,
        [model.predict(toks) for toks in test_tokens],
        {
            "token": [token.predict(toks) for toks in test_tokens],
            "ngram": [ngram.predict(toks) for toks in test_tokens],
        },
        threshold=threshold,
    )


def normalise(activations: Sequence[float], max_activation: float) -> list[float]:
    """Raw activations divided by the neuron's max activation, computed exactly as
    extraction does (multiplying by ``1 / max``) so the figures match to the last bit."""
    scale = 1.0 / max_activation
    return [a * scale for a in activations]


def score_examples(
    predictor: Predictor,
    train: Sequence[Example],
    test: Sequence[Example],
    max_activation: float,
    *,
    threshold: float = 0.5,
    ngram_context: int = 1,
) -> dict[str, float]:
    """Figures of `predictor` (a `Trie`) on the `test` examples next to the token-lookup
    and n-gram baselines fitted on `train`; activations are raw and normalised here.

    Keys as `n2g_kb.n2g.metrics.metrics_dict` (precision, recall, f1, support, nonfiring_*,
    baseline_token_*, baseline_ngram_*) plus n_train_examples and n_test_examples.
    This is the computation behind `NeuronResult.metrics` at extraction.
    """
    metrics = evaluate(
        predictor,
        [e.tokens for e in train],
        [normalise(e.activations, max_activation) for e in train],
        [e.tokens for e in test],
        [normalise(e.activations, max_activation) for e in test],
        threshold=threshold,
        ngram_context=ngram_context,
    )
    metrics["n_train_examples"] = float(len(train))
    metrics["n_test_examples"] = float(len(test))
    return metrics
