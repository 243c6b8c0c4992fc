"""The bulk build (neo4j-admin import into the managed Neo4j) against the Bolt write path:
the same neurons give the same graph and the same answers to every query."""

from __future__ import annotations

import os
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


def results_with_examples():
    results = fixture_results()
    for r in results[:3]:
        r.examples = [
            Example(tokens=["I", " live", " in", ' "Paris"', "\n"], activations=[0.0, 0.1, 0.25, 2.5, -0.125], split="train"),
            Example(tokens=[" in", " Paris,"], activations=[0.1, 2.2], split="test"),
        ]
    return results


MODELS = {
    FIXTURE_MODEL: {"n_layers": 3, "d_mlp": 16, "hook": "fixture"},
    OTHER_MODEL: {"n_layers": 2, "d_mlp": 16, "hook": "fixture", "tokenizer": OTHER_TOKENIZER},
}


@pytest.fixture(scope="module")
def bulk_store(tmp_path_factory):
    from n2g_kb.kb.bulk import bulk_build
    from n2g_kb.kb.db import connect
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.kb.store import Store
    from n2g_kb.settings import LocalServerSettings, cache_dir

    server = LocalNeo4j(
        LocalServerSettings(
            cache_dir=cache_dir(), data_dir=tmp_path_factory.mktemp("bulk-home"), bolt_port=_free_port(),
            http_port=_free_port(), heap="512m", pagecache="128m",
        )
    )
    server.start()
    try:
        settings = server.connection("neo4j")
        driver = connect(settings, retry_s=60.0)
        store = Store(driver, "neo4j", settings=settings)
        stats = bulk_build(server, store, MODELS, results_with_examples())
        assert stats.neurons == len(fixture_results()) and stats.trie_nodes > 0
        yield store
        driver.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bolt_store(neo4j_driver, neo4j_settings):
    from n2g_kb.kb.store import Store

    s = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    s.clear()
    s.init_schema()
    results = results_with_examples()
    for model, props in MODELS.items():
        s.upsert_model(model, **props)
        s.write_neurons(model, [r for r in results if r.model == model])
    return s


CASES = {
    "query/fires_on": [{"token": t, "model": m, "layer": None, "limit": None} for t in ("paris", "it's", "\\") for m in (None, FIXTURE_MODEL)],
    "query/context": [
        {"token": "paris", "context": c, "distance": d, "model": None, "layer": None, "limit": None}
        for c, d in ((["to"], None), (["capital", "of"], None), (["to", "<IGNORE>"], None), (["in"], 1))
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
    "query/neuron_graph": [{"model": FIXTURE_MODEL, "layer": 1, "neuron": 7}, {"model": FIXTURE_MODEL, "layer": 2, "neuron": 8}],
}


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
        assert bulk == bolt, (name, params)
        assert bolt or name in ("query/context_loose",), (name, params)


def test_bulk_and_bolt_writes_store_the_same_neurons(bulk_store, bolt_store):
    for r in results_with_examples():
        a = bolt_store.load_neuron(r.model, r.layer, r.index)
        b = bulk_store.load_neuron(r.model, r.layer, r.index)
        assert a == b, r.key
    assert bulk_store.counts() == {
        k: v for k, v in bolt_store.counts().items()
    }


def test_the_bulk_build_refuses_a_knowledge_base_that_holds_data(bolt_store):
    from n2g_kb.kb.bulk import BulkImportError, bulk_build

    with pytest.raises(BulkImportError, match="empty"):
        bulk_build(object(), bolt_store, MODELS, [])
