"""The in-memory `similar` (n2g_kb.kb.similarity) against cypher/query/similar.cypher, and its cache."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from n2g_kb.errors import NotFoundError
from n2g_kb.kb import query
from n2g_kb.kb import similarity as similarity_module
from n2g_kb.kb.fixtures import FIXTURE_MODEL, OTHER_MODEL, Pattern, result_from_patterns
from n2g_kb.kb.similarity import load_token_sets

VOCAB = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]


@pytest.fixture
def no_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(similarity_module, "_MEMORY", {})
    monkeypatch.setattr(similarity_module, "default_cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def rows(frame) -> list[tuple]:
    return [tuple(x) for x in frame.astype(object).values.tolist()]


def both(store, **params):
    memory = query.similar(store, engine="memory", **params)
    cypher = query.similar(store, engine="cypher", **params)
    return rows(memory), rows(cypher)


def test_memory_and_cypher_agree_on_the_fixture_for_every_filter(kb, no_disk):
    cases = itertools.product([None, FIXTURE_MODEL, OTHER_MODEL], [None, 0, 1], [None, 0, 5], [False, True])
    seen = 0
    for model, layer, neuron, cross in cases:
        if neuron is not None and (model is None or layer is None):
            continue
        for threshold in (0.0, 0.3, 0.5):
            params = dict(model=model, layer=layer, neuron=neuron, threshold=threshold, cross_layer_only=cross, limit=1000)
            try:
                cypher = rows(query.similar(kb, engine="cypher", **params))
            except NotFoundError as e:  # a neuron the fixture does not have: the same error
                with pytest.raises(NotFoundError, match=re.escape(str(e))):
                    query.similar(kb, engine="memory", **params)
                continue
            assert rows(query.similar(kb, engine="memory", **params)) == cypher, params
            seen += len(cypher)
    assert seen > 50
    memory, cypher = both(kb, model=FIXTURE_MODEL, threshold=0.0, limit=3)
    assert memory == cypher and len(memory) == 3


def random_results(rng: random.Random, n: int) -> list:
    out = []
    for index in range(n):
        patterns = [Pattern((*rng.sample(VOCAB, rng.randint(0, 3)), rng.choice(VOCAB)), round(rng.uniform(0.2, 1.0), 2))
                    for _ in range(rng.randint(1, 4))]  # fmt: skip
        out.append(result_from_patterns("random", index % 3, index // 3, patterns))
    return out


def test_memory_and_cypher_agree_on_random_token_sets(store, no_disk):
    rng = random.Random(23)
    store.write_neurons("random", random_results(rng, 45))
    for _ in range(12):
        layer, neuron = rng.randrange(3), rng.randrange(15)
        threshold = rng.choice([0.1, 0.25, 0.4, 0.6])
        memory, cypher = both(store, model="random", layer=layer, neuron=neuron, threshold=threshold,
                              cross_layer_only=rng.random() < 0.3, limit=50)  # fmt: skip
        assert memory == cypher, (layer, neuron, threshold)
    memory, cypher = both(store, model="random", threshold=0.3, limit=1000)  # every pair
    assert memory == cypher and len(memory) > 10


ZIPF = [f"w{r}" for r in range(30)]


def zipf_results(rng: random.Random, model: str, keys: list[tuple[int, int]]) -> list:
    """Neurons of 1 to ~25 role-tagged tokens drawn from a Zipf-like vocabulary, so a few
    tokens are shared by most neurons and prefix hits, sizes and overlaps all vary."""
    out = []
    for layer, index in keys:
        if rng.random() < 0.08:
            out.append(result_from_patterns(model, layer, index, [], status="dead", max_activation=0.0))
            continue
        patterns = []
        for _ in range(rng.randint(1, 6)):
            tokens = rng.choices(ZIPF, weights=[1 / (r + 1) for r in range(len(ZIPF))], k=rng.randint(1, 5))
            patterns.append(Pattern(tuple(tokens), round(rng.uniform(0.3, 1.0), 2)))
        out.append(result_from_patterns(model, layer, index, patterns))
    return out


def test_memory_and_cypher_agree_on_many_random_neurons_thresholds_and_filters_after_rewrites(store, no_disk):
    # cypher/query/similar.cypher prunes candidates with bounds (prefix hits, |b|, the small
    # neurons' index); any bound that drops a true pair shows here as a row missing from Cypher
    rng = random.Random(5)
    keys = [(layer, index) for layer in range(3) for index in range(40)]
    store.write_neurons("zipf", zipf_results(rng, "zipf", keys))
    store.write_neurons("zipf-other", zipf_results(rng, "zipf-other", keys[:30]))  # the same tokens, another model
    thresholds = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 1 / 3, 0.4, 0.5, 0.7, 1.0]
    compared = rows_seen = 0
    for round_ in range(2):
        for _ in range(30):
            layer, index = rng.choice(keys)
            params = dict(model="zipf", layer=layer, neuron=index, threshold=rng.choice(thresholds),
                          cross_layer_only=rng.random() < 0.3, limit=1000)  # fmt: skip
            if rng.random() < 0.15:  # a whole layer against everything
                params.update(neuron=None)
            memory, cypher = both(store, **params)
            assert memory == cypher, params
            compared += 1
            rows_seen += len(cypher)
        # re-ingest a fifth of the neurons (new token sets, some now dead): both engines follow
        rewritten = rng.sample(keys, len(keys) // 5)
        store.write_neurons("zipf", zipf_results(rng, "zipf", rewritten))
    memory, cypher = both(store, model="zipf", threshold=0.2, limit=5000)  # every pair
    assert memory == cypher and len(memory) > 100
    assert compared == 60 and rows_seen > 300


def test_a_write_rebuilds_the_index_and_a_fresh_process_reads_the_disk_cache(store, no_disk, monkeypatch):
    store.write_neurons("tiny", [result_from_patterns("tiny", 0, 1, [Pattern(("to", "paris"), 0.9)]),
                                 result_from_patterns("tiny", 0, 2, [Pattern(("in", "rome"), 0.8)])])  # fmt: skip
    first = load_token_sets(store, "tiny")
    assert load_token_sets(store, "tiny") is first and list(no_disk.glob("tokensets-*.pkl"))
    assert query.similar(store, model="tiny", layer=0, neuron=1, threshold=0.0).empty
    store.write_neurons("tiny", [result_from_patterns("tiny", 0, 3, [Pattern(("to", "paris"), 0.7)])])
    again = query.similar(store, model="tiny", layer=0, neuron=1, threshold=0.5)
    assert rows(again) == [("tiny", 0, 1, 0, 3, 1.0, 1.0, 1.0, ["paris"], ["to"])]
    monkeypatch.setattr(similarity_module, "_MEMORY", {})
    read = type(store).read

    def no_token_sets(self, name, /, **params):
        assert name != "read/token_sets", "read the token sets again"
        return read(self, name, **params)

    monkeypatch.setattr(type(store), "read", no_token_sets)
    loaded = load_token_sets(store, "tiny")
    assert loaded.version == first.version + 1 and len(loaded) == 3


def test_an_unknown_neuron_or_engine_is_a_clear_error(kb, no_disk):
    from n2g_kb.errors import ConfigError

    with pytest.raises(NotFoundError):
        query.similar(kb, model=FIXTURE_MODEL, layer=0, neuron=999)
    with pytest.raises(NotFoundError, match="No model"):
        query.similar(kb, model="nope", layer=0, neuron=0)
    with pytest.raises(ConfigError, match="engine"):
        query.similar(kb, model=FIXTURE_MODEL, engine="gpu")


def test_a_disk_cache_written_with_other_fields_is_rebuilt_not_a_crash(tmp_path):
    """A cache file from a version whose index had other fields loads as None (rebuilt)."""
    from n2g_kb.kb.memcache import save_state
    from n2g_kb.kb.similarity import FORMAT, TokenSets

    path = tmp_path / "tokensets.pkl"
    save_state(path, {"format": FORMAT, "columns": []})
    assert TokenSets.load(path) is None
    save_state(path, {"format": FORMAT - 1})
    assert TokenSets.load(path) is None
