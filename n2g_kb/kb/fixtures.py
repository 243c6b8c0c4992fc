"""A small hand-built knowledge base with known answers, for tests, docs and benches.

Every neuron is written from a list of patterns in *text order* (the last token is the
firing token, ``IGNORE`` stands for "any one token"), turned into a real `Trie` by
`trie_from_patterns` and stored with `Store.write_neurons`, exactly as an ingest would.
The answers each query should give on this knowledge base are stated next to the
neurons below, and the tests check them (see tests/test_queries.py).

Run ``python -m n2g_kb.kb.fixtures`` to write it into the configured Neo4j (NEO4J_* or the
managed local one); it only replaces the neurons of the two fixture models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from n2g_kb.n2g.results import NeuronResult, NeuronStatus
from n2g_kb.n2g.trie import IGNORE, Trie, TrieNode

FIXTURE_MODEL = "fixture"
OTHER_MODEL = "fixture-b"
OTHER_TOKENIZER = "/models/fixture-b-tokenizer"
"""Recorded on the fixture-b Model node as its `tokenizer` (the fixture model has none)."""
CONTEXT_IMPORTANCE = 0.9
INJECTION = "}) MATCH (n) DETACH DELETE n //"
"""A token that would wreck the database if it were ever formatted into Cypher text."""


@dataclass(frozen=True)
class Pattern:
    """One pattern in text order: ``("capital", "of", "paris")`` fires on "paris".

    ``activation`` is the end activation stored where the pattern completes. ``None``
    writes the path without completing it (a dangling context node, which N2G never
    produces; the fixture uses one to check that queries require patterns to complete).
    """

    text: tuple[str, ...]
    activation: float | None

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("a pattern needs at least its firing token")
        if self.text[-1] == IGNORE:
            raise ValueError("the firing token (the last one) cannot be a wildcard")
        if self.text[0] == IGNORE:
            raise ValueError("a pattern cannot start (furthest back) with a wildcard")


@dataclass(frozen=True)
class FixtureNeuron:
    model: str
    layer: int
    index: int
    patterns: tuple[Pattern, ...]
    f1: float | None
    status: NeuronStatus = "ok"
    note: str = ""
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.model, self.layer, self.index)


def P(*text: str, activation: float | None) -> Pattern:  # noqa: N802 - reads like data
    return Pattern(tuple(text), activation)


W = IGNORE  # a wildcard position in a pattern

FIXTURE_NEURONS: tuple[FixtureNeuron, ...] = (
    FixtureNeuron(
        FIXTURE_MODEL, 0, 0,
        (P("in", "paris", activation=0.9), P("to", "london", activation=0.8)),
        f1=0.82,
        note="'to' is context of the london pattern only: the path-aware trap for (paris, 'to')",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 0, 2,
        (P("paris", activation=0.8), P("london", activation=0.75), P("berlin", activation=0.7)),
        f1=0.55,
        note="cities without context: strict superset of L1/6's firing tokens",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 0, 3,
        (P("paris", activation=0.7), P("near", "paris", activation=None)),
        f1=0.3,
        note="a dangling context node 'near' that completes no pattern",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 1, 5,
        (P("to", W, "paris", activation=0.95), P("paris", activation=0.6)),
        f1=0.91,
        note="'to' two tokens before 'paris' (distance 2)",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 1, 6,
        (P("paris", activation=0.7), P("london", activation=0.65)),
        f1=0.4,
        note="same firing tokens as L0/0, no context",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 1, 7,
        (P("capital", "of", "paris", activation=0.85), P("capital", "of", "france", activation=0.8)),
        f1=0.77,
        note="one group: both firing tokens share the context 'capital of'",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 2, 3,
        (P("smith", W, "smith", activation=0.9), P("mr", "smith", activation=0.7)),
        f1=0.66,
        note="repetition within one pattern: smith ... smith",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 2, 4,
        (P("the", "cat", activation=0.8), P("of", "the", activation=0.7)),
        f1=0.6,
        note="'the' fires in one pattern and is context in another (neuron-level repetition only)",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 2, 8,
        (
            P("\n", "it's", activation=0.8),
            P('"', "\\", activation=0.75),
            P("Ċ", "café", activation=0.7),
            P("Ġ", activation=0.65),
            P(INJECTION, activation=0.6),
        ),
        f1=0.5,
        note="tokens with quotes, backslashes, newlines, unicode, GPT-2 byte-level characters",
    ),
    FixtureNeuron(
        FIXTURE_MODEL, 2, 9,
        (P("a", "x", "fire", activation=0.6), P("x", "fire", activation=0.55), P("a", W, "fire", activation=0.9)),
        f1=0.7,
        note="two equally long matches of 'a x fire': the exact path (0.6) wins over the wildcard (0.9)",
    ),
    FixtureNeuron(FIXTURE_MODEL, 2, 10, (), f1=None, status="dead", note="never fired"),
    FixtureNeuron(FIXTURE_MODEL, 2, 11, (), f1=None, status="failed", error="boom", note="extraction failed"),
    FixtureNeuron(OTHER_MODEL, 0, 1, (P("paris", activation=0.9),), f1=0.88, note="other model"),
    FixtureNeuron(
        OTHER_MODEL, 1, 0, (P("paris", activation=0.8), P("rome", activation=0.7)), f1=0.35, note="other model"
    ),
)


def trie_from_patterns(patterns: Iterable[Pattern], importance: float = CONTEXT_IMPORTANCE) -> Trie:
    """A trie holding exactly these patterns (no wildcard merging).

    Firing-token nodes keep the highest activation of their patterns; context nodes get
    ``importance``; the node where a pattern completes keeps the highest end activation.
    """
    trie = Trie()
    for pattern in patterns:
        node = trie.root
        for token in reversed(pattern.text):
            child = node.children.get(token)
            if child is None:
                kind = "ignore" if token == IGNORE else "token"
                child = TrieNode(token, kind, node.depth + 1)
                if kind == "token" and child.depth >= 2:
                    child.importance = importance
                node.children[token] = child
            if child.depth == 1 and pattern.activation is not None:
                child.activation = max(child.activation or 0.0, pattern.activation)
            node = child
        if pattern.activation is not None:
            node.end_activation = max(node.end_activation or 0.0, pattern.activation)
    return trie


def result_from_patterns(
    model: str,
    layer: int,
    index: int,
    patterns: Sequence[Pattern],
    *,
    status: NeuronStatus = "ok",
    metrics: dict[str, float] | None = None,
    error: str | None = None,
    max_activation: float = 1.0,
    importance: float = CONTEXT_IMPORTANCE,
) -> NeuronResult:
    """A `NeuronResult` ready for `Store.write_neurons`, built from patterns."""
    trie = trie_from_patterns(patterns, importance) if patterns else None
    return NeuronResult(
        model=model,
        layer=layer,
        index=index,
        max_activation=max_activation,
        status=status,
        trie_nodes=trie.to_rows() if trie else [],
        firing_tokens=trie.firing_tokens() if trie else {},
        context_tokens=trie.context_tokens() if trie else {},
        metrics=dict(metrics or {}),
        error=error,
    )


def fixture_results() -> list[NeuronResult]:
    results = []
    for n in FIXTURE_NEURONS:
        metrics = dict(n.metrics)
        if n.f1 is not None:
            metrics.setdefault("f1", n.f1)
            metrics.setdefault("precision", round(min(1.0, n.f1 + 0.1), 2))
            metrics.setdefault("recall", round(max(0.0, n.f1 - 0.1), 2))
        results.append(
            result_from_patterns(n.model, n.layer, n.index, n.patterns, status=n.status, metrics=metrics, error=n.error)
        )
    return results


def fixture_tries() -> dict[tuple[str, int, int], Trie]:
    """Each fixture neuron's trie (an empty trie for neurons without patterns)."""
    return {n.key: trie_from_patterns(n.patterns) for n in FIXTURE_NEURONS}


def write_fixture(store) -> list[NeuronResult]:
    """Writes both fixture models and their neurons (replacing earlier copies)."""
    results = fixture_results()
    for model in (FIXTURE_MODEL, OTHER_MODEL):
        layers = {r.layer for r in results if r.model == model}
        extra = {"tokenizer": OTHER_TOKENIZER} if model == OTHER_MODEL else {}
        store.upsert_model(model, n_layers=max(layers) + 1, d_mlp=16, hook="fixture", **extra)
        store.write_neurons(model, [r for r in results if r.model == model], run_id=None)
    return results


def main() -> None:
    from n2g_kb.kb.db import open_driver
    from n2g_kb.settings import resolve
    from n2g_kb.kb.store import Store

    settings = resolve()
    with open_driver(settings) as (driver, resolved):
        results = write_fixture(Store(driver, resolved.database, settings=resolved))
    print(f"Wrote {len(results)} fixture neurons (models {FIXTURE_MODEL!r}, {OTHER_MODEL!r}) to {resolved.describe()}")


if __name__ == "__main__":
    main()
