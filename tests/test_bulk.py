"""The bulk build (neo4j-admin import into the managed Neo4j) against the Bolt write path:
the same neurons give the same graph and the same answers to every query."""

from __future__ import annotations

import os
import random
import socket

import pytest

from n2g_kb.kb.fixtures import FIXTURE_MODEL, OTHER_MODEL, OTHER_TOKENIZER, fixture_results
from n2g_kb.kb.query import query_names
from n2g_kb.n2g.results import Example

pytestmark = pytest.mark.skipif(bool(os.environ.get("NEO4J_URI")) and not os.environ.get("N2GKB_TEST_BULK"),
                                reason="the bulk build needs a managed Neo4j (set N2GKB_TEST_BULK=1 to run anyway)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NASTY_TOKENS = [
    "", '"', '""', '"x', 'x"', "\\", '\\"', '\\\\""', "new\nline", "\r\n", "\r", "\t", ";", ",", ',"\n', "\x1f", "a\x1fb",
    "\x00", "[", "]", '["x"]', "\\u0041", "ünïcødé ✓", "日本語", "🙂", "\u2028", "  spaced  ", "'",
]
NASTY_FLOATS = [1e-300, -0.0, 3.4028234663852886e38, 5e-324, 2.225073858507201e-308, 1.7976931348623157e308, 0.1, 1 / 3,
                float("inf"), float("-inf")]


def results_with_examples():
    results = fixture_results()
    for r in results[:3]:
        r.examples = [
            Example(tokens=["I", " live", " in", ' "Paris"', "\n"], activations=[0.0, 0.1, 0.25, 2.5, -0.125], split="train"),
            Example(tokens=[" in", " Paris,"], activations=[0.1, 2.2], split="test"),
        ]
    # tokens that CSV quoting, JSON escaping and neo4j-admin's parser must all carry through
    results[3].examples = [
        Example(tokens=NASTY_TOKENS, activations=(NASTY_FLOATS * 3)[: len(NASTY_TOKENS)], split="train"),
        Example(tokens=[], activations=[], split="sample"),
        Example(tokens=['"', ""], activations=[-0.0, 5e-324], split="test"),
    ]
    return results


def _bits(examples):
    """Examples compared exactly: -0.0 is not 0.0 here."""
    import numpy as np

    return [(e.split, list(e.tokens), np.asarray(e.activations, "<f8").tobytes()) for e in examples]


MODELS = {
    FIXTURE_MODEL: {"n_layers": 3, "d_mlp": 16, "hook": "fixture"},
    OTHER_MODEL: {"n_layers": 2, "d_mlp": 16, "hook": "fixture", "tokenizer": OTHER_TOKENIZER},
}


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory):
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.settings import LocalServerSettings, cache_dir

    server = LocalNeo4j(
        LocalServerSettings(
            cache_dir=cache_dir(), data_dir=tmp_path_factory.mktemp("bulk-home"), bolt_port=_free_port(),
            http_port=_free_port(), heap="512m", pagecache="128m",
        )
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bulk_store(bulk_server):
    from n2g_kb.kb.bulk import bulk_build
    from n2g_kb.kb.db import connect
    from n2g_kb.kb.store import Store

    settings = bulk_server.connection("neo4j")
    driver = connect(settings, retry_s=60.0)
    store = Store(driver, "neo4j", settings=settings)
    # the large-import path: chunks of 3 neurons written by 2 worker processes
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("n2g_kb.kb.bulk.CHUNK_NEURONS", 3)
        mp.setattr("n2g_kb.kb.bulk.PARALLEL_MIN_NEURONS", 1)
        mp.setenv("N2GKB_BULK_WORKERS", "2")
        stats = bulk_build(bulk_server, store, MODELS, results_with_examples())
    assert stats.neurons == len(fixture_results()) and stats.trie_nodes > 0
    yield store
    driver.close()


@pytest.fixture(scope="module")
def bolt_store(neo4j_driver, neo4j_settings):
    from n2g_kb.kb.store import Store

    s = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    write_over_bolt(s)
    return s


def write_over_bolt(store) -> None:
    """Empties the database and writes the fixture neurons (with examples) through the Bolt path."""
    store.clear()
    store.init_schema()
    results = results_with_examples()
    for model, props in MODELS.items():
        store.upsert_model(model, **props)
        store.write_neurons(model, [r for r in results if r.model == model])


CASES = {
    "query/fires_on": [{"token": t, "model": m, "layer": None, "limit": None} for t in ("paris", "it's", "\\") for m in (None, FIXTURE_MODEL)],
    "query/context": [
        {"token": "paris", "context": c, "distance": d, "model": None, "layer": None, "limit": None}
        for c, d in ((["to"], None), (["capital", "of"], None), (["to", "<IGNORE>"], None), (["in"], 1), (["<IGNORE>"], None),
                     (["<IGNORE>"], 1))
    ],
    "query/context_loose": [{"token": "paris", "context": ["to"], "model": None, "layer": None}],
    "query/last_token": [
        {"tokens": t, "min_activation": 0.0, "model": None, "layer": None, "limit": None}
        for t in (["to", "big", "paris"], ["a", "x", "fire"], ["smith", "said", "smith"])
    ],
    "query/fire": [{"tokens": ["mr", "smith", "said", "smith", "in", "paris", "a", "x", "fire"], "min_activation": 0.0, "model": None, "layer": None}],
    "query/fire_candidates": [{"tokens": ["capital", "of", "france", "paris"], "model": None, "layer": None}],
    "query/similar": [{"model": None, "layer": None, "neuron": None, "threshold": 0.0, "cross_layer_only": False, "limit": 1000}],
    "query/supersets": [{"model": None, "layer": None, "neuron": None, "cross_layer_only": False, "limit": 1000}],
    "query/polysemantic": [{"model": None, "layer": None, "min_groups": 1, "limit": 1000}],
    "query/repetition": [{"model": None, "layer": None, "same_pattern": False, "limit": 1000}],
    "query/top_neurons": [{"metric": m, "model": None, "layer": None, "limit": 1000} for m in ("f1", "precision")],
    "query/layer_summary": [{"model": None}],
    "query/models": [{}],
    "query/units": [{"kind": None}, {"kind": "neuron"}],
    "query/neuron_graph": [{"model": FIXTURE_MODEL, "layer": 1, "neuron": 7}, {"model": FIXTURE_MODEL, "layer": 2, "neuron": 8}],
}


def rounded(value):
    """Float sums may be taken in another order (avg over neurons read in another order)."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def test_every_query_is_compared():
    assert set(CASES) == set(query_names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_bulk_and_bolt_writes_give_the_same_answers(bulk_store, bolt_store, name):
    for params in CASES[name]:
        bolt = bolt_store.read(name, **params)
        bulk = bulk_store.read(name, **params)
        if name == "query/neuron_graph":  # paths hold element ids; compare the nodes
            bolt, bulk = [r["node"] for r in bolt], [r["node"] for r in bulk]
        if name == "query/models":
            for rows in (bolt, bulk):
                for r in rows:
                    r["properties"].pop("name", None)
        assert rounded(bulk) == rounded(bolt), (name, params)
        assert bolt or name in ("query/context_loose",), (name, params)


def test_bulk_and_bolt_writes_store_the_same_neurons(bulk_store, bolt_store):
    for r in results_with_examples():
        a = bolt_store.load_neuron(r.model, r.layer, r.index)
        b = bulk_store.load_neuron(r.model, r.layer, r.index)
        assert a == b, r.key
        assert _bits(a.examples) == _bits(b.examples) == _bits(r.examples), r.key
        if r.examples:
            where = {"model": r.model, "layer": r.layer, "index": r.index}
            bolt_node = bolt_store.read("test/examples_node", **where)[0]["props"]
            assert bulk_store.read("test/examples_node", **where)[0]["props"] == bolt_node
            assert "tokens_json" in bolt_node and "tokens" not in bolt_node
    assert bulk_store.counts() == {
        k: v for k, v in bolt_store.counts().items()
    }


def test_the_bulk_build_refuses_a_knowledge_base_that_holds_data(bolt_store):
    from n2g_kb.kb.bulk import BulkImportError, bulk_build

    with pytest.raises(BulkImportError, match="empty"):
        bulk_build(object(), bolt_store, MODELS, [])


def test_an_ingest_through_the_bulk_path_stores_what_the_bolt_path_stores(bulk_server, bulk_store, bolt_store, tmp_path):
    """Runs last: it empties both databases and ingests a tiny model into each."""
    from n2g_kb.lm.model import load_model
    from n2g_kb.runners.ingest import IngestOptions, run_ingest
    from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

    model_dir = build_tiny_gpt2(tmp_path / "tiny", corpus=synthetic_corpus(200), d_mlp=16)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(synthetic_corpus(150, seed=5)), encoding="utf-8")
    loaded = load_model(str(model_dir), device="cpu")
    options = IngestOptions(model=str(model_dir), layers="0-1", neurons="0-5", examples=6, corpus=str(corpus),
                            context=24, batch_size=16, augmenter=None, chunk_size=3, device="cpu", name="tiny")
    summaries = []
    for store, bulk in ((bolt_store, None), (bulk_store, bulk_server)):
        store.clear()
        summaries.append(run_ingest(store, options, load_model=lambda *a, **k: loaded, runs_dir=tmp_path / "runs", bulk=bulk))
    assert summaries[0].written == summaries[1].written > 0
    for r in (bolt_store, bulk_store):
        assert r.read("ingest/run", id=summaries[0].run_id)[0]["produced"] == 12
    for layer in (0, 1):
        assert bolt_store.neuron_status("tiny", layer) == bulk_store.neuron_status("tiny", layer)
        for index in range(6):
            assert bolt_store.load_neuron("tiny", layer, index) == bulk_store.load_neuron("tiny", layer, index)
    for name, params in [
        ("query/models", {}),
        ("query/layer_summary", {"model": "tiny"}),
        ("query/polysemantic", {"model": "tiny", "layer": None, "min_groups": 1, "limit": 100}),
        ("query/similar", {"model": "tiny", "layer": None, "neuron": None, "threshold": 0.0, "cross_layer_only": False, "limit": 1000}),
    ]:
        a, b = bolt_store.read(name, **params), bulk_store.read(name, **params)
        if name == "query/models":
            for rows in (a, b):
                rows[0]["properties"].pop("name", None)
        assert rounded(a) == rounded(b), name


def test_worker_processes_write_the_same_files_as_one_process(tmp_path, monkeypatch):
    from n2g_kb.kb import bulk

    results = results_with_examples()
    monkeypatch.setattr(bulk, "PARALLEL_MIN_NEURONS", 1)
    out = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("N2GKB_BULK_WORKERS", workers)
        args, stats = bulk.write_csv(tmp_path / workers, MODELS, results, kb_id="kb", chunk=2)
        files = sorted(p for p in (tmp_path / workers).iterdir() if p.name != "neurons.csv")  # neurons: write time
        out[workers] = ([a.replace(str(tmp_path / workers), "") for a in args], {p.name: p.read_bytes() for p in files},
                        (stats.neurons, stats.trie_nodes, stats.nodes, stats.relationships))
    assert out["1"] == out["2"]
    assert "trie_nodes.csv" in out["1"][1] and not any(".p0" in name for name in out["1"][1])  # parts joined


def test_a_list_of_floats_is_written_as_each_float_on_its_own():
    # each float as repr writes it (the shortest text that reads back as the same double)
    from n2g_kb.kb.bulk import ARRAY_DELIMITER, _list_cell

    cell = _list_cell("double[]")
    rng = random.Random(5)
    values = [rng.uniform(-3, 3) for _ in range(500)] + [0.1, 1e-300, -2.5, 3.0, 1e16, 123456789.125, -0.0, 5e-324]
    assert cell(values) == ARRAY_DELIMITER.join(repr(v) for v in values)
    assert cell([2, 0.5]) == f"2{ARRAY_DELIMITER}0.5"  # ints among the floats: item by item
    assert cell([]) is None


def test_a_knowledge_base_written_by_the_previous_version_gives_the_same_answers(bolt_store):
    """Trie nodes with `depth`, wildcards with `fire` and `rank`, Neurons with `group_tokens`
    and `context_importance` (what the previous version wrote, graph format 3 as now): every
    query answers as on the leaner form this version writes."""
    def answers():
        out = {}
        for name, cases in CASES.items():
            for i, params in enumerate(cases):
                rows = bolt_store.read(name, **params)
                if name == "query/neuron_graph":
                    rows = [r["node"] for r in rows]
                out[(name, i)] = rounded(rows)
        return out

    write_over_bolt(bolt_store)  # the fixture neurons as this version writes them (other tests may have left others)
    expected = answers()
    stored = {(r.model, r.layer, r.index): bolt_store.load_neuron(r.model, r.layer, r.index) for r in fixture_results()}
    try:
        bolt_store.write("test/as_written_before")
        keys = [set(r["keys"]) for r in bolt_store.read("test/trie_properties", model=FIXTURE_MODEL, layer=1, index=7)]
        assert keys and all("depth" in k for k in keys)  # the old form it is
        got = answers()
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == expected[key], key
        for key, result in stored.items():
            assert bolt_store.load_neuron(*key) == result, key
    finally:  # the module's other tests read the leaner form
        write_over_bolt(bolt_store)
