"""The in-memory fire matcher against cypher/query/fire.cypher and Trie.predict, and its cache."""

from __future__ import annotations

import random

import pytest

from n2g_kb.kb import matcher as matcher_module
from n2g_kb.kb import query
from n2g_kb.kb.fixtures import FIXTURE_MODEL, Pattern, result_from_patterns, trie_from_patterns
from n2g_kb.kb.matcher import Matcher, load_matcher, shape_of
from n2g_kb.kb.query import fire_rows
from n2g_kb.kb.precompute import pattern_key
from n2g_kb.n2g.trie import IGNORE

VOCAB = ["paris", "london", "to", "in", "of", "capital", "a", "x", "fire", "smith", "mr", "the", "cat", "near", "big"]
RANDOM_VOCAB = ["a", "b", "c", "d|e", "f\\", "g", "h"]


def cypher_fire(store, tokens, **filters):
    params = {"model": None, "layer": None, **filters}
    rows = fire_rows(store.read("query/fire", tokens=tokens, min_activation=0.0, **params), tokens)
    return [(r["position"], r["model"], r["layer"], r["neuron"], r["activation"], r["pattern"]) for r in rows]


def memory_fire(m: Matcher, tokens, **filters):
    frame = m.fire(tokens, min_activation=0.0, **filters)
    return [(int(r.position), r.model, int(r.layer), int(r.neuron), r.activation, r.pattern) for r in frame.itertuples()]


@pytest.fixture
def no_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(matcher_module, "_MEMORY", {})
    monkeypatch.setattr(matcher_module, "default_cache_dir", lambda: tmp_path / "matchers")
    return tmp_path / "matchers"


def test_the_matcher_gives_the_same_rows_as_fire_cypher_on_the_fixture(kb, no_disk):
    m = load_matcher(kb)
    rng = random.Random(3)
    for _ in range(40):
        tokens = [rng.choice(VOCAB) for _ in range(rng.randint(1, 9))]
        assert memory_fire(m, tokens) == cypher_fire(kb, tokens), tokens
    tokens = ["mr", "smith", "said", "smith", "in", "paris"]
    assert memory_fire(m, tokens, model=FIXTURE_MODEL, layer=2) == cypher_fire(kb, tokens, model=FIXTURE_MODEL, layer=2)


def random_results(rng: random.Random, n: int) -> list:
    results = []
    for index in range(n):
        patterns = []
        for firing in rng.sample(RANDOM_VOCAB, rng.randint(1, 3)):
            for _ in range(rng.randint(1, 4)):
                context = [IGNORE if rng.random() < 0.35 else rng.choice(RANDOM_VOCAB) for _ in range(rng.randint(0, 4))]
                while context and context[0] == IGNORE:
                    context.pop(0)
                patterns.append(Pattern((*context, firing), round(rng.uniform(0.1, 1.0), 2)))
        trie = trie_from_patterns(patterns)
        trie.merge_ignores()
        r = result_from_patterns("random", index % 3, index, [])
        r.trie_nodes, r.firing_tokens, r.context_tokens = trie.to_rows(), trie.firing_tokens(), trie.context_tokens()
        results.append((r, trie))
    return results


def test_the_matcher_cypher_and_trie_predict_agree_on_random_tries_and_texts(store, no_disk):
    rng = random.Random(5)
    written = random_results(rng, 30)
    store.write_neurons("random", [r for r, _ in written])
    m = load_matcher(store)
    for _ in range(40):
        tokens = [rng.choice(RANDOM_VOCAB) for _ in range(rng.randint(1, 12))]
        got = memory_fire(m, tokens)
        assert got == cypher_fire(store, tokens), tokens
        expected = {
            (position, r.layer, r.index): value
            for r, trie in written
            for position, value in enumerate(trie.predict(tokens))
            if value > 0
        }
        assert {(p, layer, neuron): a for p, _, layer, neuron, a, _ in got} == expected, tokens


def test_a_write_bumps_the_version_and_the_matcher_is_rebuilt(store, no_disk):
    store.write_neurons("tiny", [result_from_patterns("tiny", 0, 1, [Pattern(("paris",), 0.9)])])
    first = load_matcher(store)
    assert load_matcher(store) is first  # same version: from memory
    store.write_neurons("tiny", [result_from_patterns("tiny", 0, 2, [Pattern(("in", "rome"), 0.8)])])
    second = load_matcher(store)
    assert second.version == first.version + 1
    assert memory_fire(second, ["in", "rome"]) == [(1, "tiny", 0, 2, 0.8, ["in", "rome"])]
    assert memory_fire(first, ["in", "rome"]) == []


def test_a_fresh_process_loads_the_matcher_from_the_disk_cache(store, no_disk, monkeypatch):
    store.write_neurons("tiny", [result_from_patterns("tiny", 0, 1, [Pattern(("to", IGNORE, "paris"), 0.9)])])
    built = load_matcher(store, "tiny")
    assert list(no_disk.glob("matcher-*.pkl"))
    monkeypatch.setattr(matcher_module, "_MEMORY", {})
    monkeypatch.setattr(type(store), "pattern_ends", lambda *a, **k: pytest.fail("read the tries again"))
    loaded = load_matcher(store, "tiny")
    assert loaded is not built and loaded.version == built.version
    assert memory_fire(loaded, ["to", "big", "paris"]) == [(2, "tiny", 0, 1, 0.9, ["to", IGNORE, "paris"])]


def test_the_fire_helper_uses_the_matcher_by_default_and_agrees_with_cypher(kb, no_disk):
    tokens = [" to", " big", " Paris"]
    memory = query.fire(kb, tokens)
    cypher = query.fire(kb, tokens, engine="cypher")
    columns = ["position", "token", "model", "layer", "neuron", "activation", "pattern"]
    assert memory[columns].astype(object).values.tolist() == cypher[columns].astype(object).values.tolist()
    assert len(memory) > 0


def test_shapes_are_read_back_from_keys_with_escaped_separators():
    assert shape_of(pattern_key(["d|e", IGNORE, "f\\"])) == "010"
    assert shape_of(pattern_key(["x"])) == "0"
