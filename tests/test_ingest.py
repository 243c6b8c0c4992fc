"""The ingest runner against the real Neo4j: stored graphs, resume, force, failures."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
import torch
from neo4j import GraphDatabase

from n2g_kb.errors import ConfigError, CorpusError, DatabaseError, SelectionError
from n2g_kb.runners.ingest import IngestOptions, ProgressEvent, run_ingest, run_key
from n2g_kb.runners.corpus import resolve_corpus
from n2g_kb.lm.model import load_model
from n2g_kb.kb.store import Store
from n2g_kb.testing import build_tiny_gpt2, build_tiny_masked_lm, synthetic_corpus

DEAD = 3  # neuron of layer 0 whose weights are set so it never activates


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from transformers import GPT2LMHeadModel

    path = build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", corpus=synthetic_corpus(300), d_mlp=64)
    gpt2 = GPT2LMHeadModel.from_pretrained(path)
    with torch.no_grad():
        fc = gpt2.transformer.h[0].mlp.c_fc
        fc.weight[:, DEAD] = 0.0
        fc.bias[DEAD] = -10.0  # gelu(-10) is a hair below 0: the neuron never fires
    gpt2.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def loaded(model_dir):
    return load_model(str(model_dir), device="cpu")


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


def _options(model_dir, corpus_file, **overrides) -> IngestOptions:
    base = dict(
        model=str(model_dir),
        layers="0-1",
        neurons="0-5",
        examples=6,
        corpus=str(corpus_file),
        context=24,
        batch_size=16,
        augmenter=None,
        chunk_size=3,
        device="cpu",
        heldout=0,
        method="paper",
    )
    return IngestOptions(**(base | overrides))


def _ingest(store, loaded, options, runs_dir, **kwargs):
    return run_ingest(store, options, load_model=lambda *a, **k: loaded, runs_dir=runs_dir, **kwargs)


def _assert_one_graph_per_neuron(store, model, expected: int, examples: int) -> list[dict]:
    rows = store.read("ingest/audit_neurons", model=model)
    assert len(rows) == expected
    for row in rows:
        assert row["model_edges"] == 1
        assert row["trie_nodes"] == row["n_trie_nodes"]
        if row["status"] == "ok":
            assert row["roots"] == 1 and row["examples"] == examples
        else:
            assert row["roots"] == 0 and row["trie_nodes"] == 0
    orphans = store.read("ingest/audit_orphans", model=model)[0]
    assert orphans == {"orphan_trie_nodes": 0, "orphan_examples": 0, "trie_nodes_without_neuron": 0}
    return rows


def test_an_ingest_stores_exactly_the_graphs_extraction_computed(store, loaded, model_dir, corpus_file, runs_dir):
    computed = []
    summary = _ingest(store, loaded, _options(model_dir, corpus_file), runs_dir, on_written=computed.extend)
    assert (summary.written, summary.dead, summary.failed, summary.skipped) == (11, 1, 0, 0)
    assert len(computed) == 12
    for result in computed:
        stored = store.load_neuron("tiny", result.layer, result.index)
        assert stored.status == result.status
        assert stored.max_activation == pytest.approx(result.max_activation)
        assert stored.trie_nodes == result.trie_nodes
        assert stored.examples == result.examples
        assert stored.metrics == pytest.approx(result.metrics)
        assert stored.firing_tokens == pytest.approx(result.firing_tokens)
    ok = [r for r in computed if r.status == "ok"]
    assert all(len(r.examples) == 6 and {e.split for e in r.examples} == {"train", "test"} for r in ok)
    assert any(len(r.trie_nodes) > 1 for r in ok)
    _assert_one_graph_per_neuron(store, "tiny", 12, examples=6)
    run = store.read("ingest/run", id=summary.run_id)[0]
    assert run["produced"] == 12
    assert run["run"]["status"] == "finished" and run["run"]["neurons_written"] == 11


def test_a_neuron_that_never_activates_is_stored_as_dead(store, loaded, model_dir, corpus_file, runs_dir):
    summary = _ingest(store, loaded, _options(model_dir, corpus_file, layers="0", neurons=f"{DEAD}"), runs_dir)
    assert summary.dead == 1 and summary.failed == 0
    dead = store.load_neuron("tiny", 0, DEAD)
    assert dead.status == "dead" and dead.trie_nodes == [] and dead.max_activation <= 0


def test_the_run_records_its_parameters_and_package_versions(store, loaded, model_dir, corpus_file, runs_dir):
    summary = _ingest(store, loaded, _options(model_dir, corpus_file, layers="1", neurons="0,2-3"), runs_dir)
    run = store.read("ingest/run", id=summary.run_id)[0]["run"]
    assert run["layers"] == [1] and run["neurons"] == "0,2-3" and run["examples"] == 6
    assert json.loads(run["config_json"])["n_examples"] == 6
    assert json.loads(run["config_json"])["augment_model"] is None
    assert run["method"] == json.loads(run["config_json"])["method"] == _options(model_dir, corpus_file, layers="1").method
    stored = store.load_neuron("tiny", 1, 0)
    assert stored.method == run["method"] and stored.method_config == json.loads(run["config_json"])
    assert {"torch", "transformers", "neo4j", "n2g-kb"} <= set(json.loads(run["versions_json"]))
    assert set(json.loads(run["timings_json"])) >= {"load_s", "mine_s", "extract_s", "write_s"}
    assert run["tokens_mined"] > 0 and run["corpus"].startswith("txt file")


def test_running_the_same_ingest_again_recomputes_nothing(store, loaded, model_dir, corpus_file, runs_dir):
    options = _options(model_dir, corpus_file, layers="0", neurons="0-2")
    first = _ingest(store, loaded, options, runs_dir)
    again = []
    second = _ingest(store, loaded, options, runs_dir, on_written=again.extend)
    assert second.run_id == first.run_id
    assert (second.skipped, second.processed, again) == (3, 0, [])
    assert second.tokens_mined == 0  # nothing left to do: not even the checkpoint is read


def test_force_recomputes_and_replaces_every_graph_without_duplicates(store, loaded, model_dir, corpus_file, runs_dir):
    options = _options(model_dir, corpus_file, layers="0", neurons="0-5")
    _ingest(store, loaded, options, runs_dir)
    before = store.counts()
    forced = _ingest(store, loaded, IngestOptions(**(vars(options) | {"force": True})), runs_dir)
    assert (forced.processed, forced.skipped, forced.mined_from_checkpoint) == (6, 0, True)
    assert store.counts() == before
    _assert_one_graph_per_neuron(store, "tiny", 6, examples=6)


def test_an_interrupted_ingest_resumes_where_it_stopped(store, loaded, model_dir, corpus_file, runs_dir):
    options = _options(model_dir, corpus_file)

    def interrupt_after_first_chunk(event: ProgressEvent) -> None:
        if event.stage == "layer" and event.done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _ingest(store, loaded, options, runs_dir, progress=interrupt_after_first_chunk)
    stored = len(store.neuron_status("tiny", 0)) + len(store.neuron_status("tiny", 1))
    assert 3 <= stored < 12
    run_id = f"ingest-tiny-{run_key(options, resolve_corpus(str(corpus_file), 'x'), [0, 1], range(6))[:12]}"
    assert store.read("ingest/run", id=run_id)[0]["run"]["status"] == "interrupted"

    resumed = _ingest(store, loaded, options, runs_dir)
    assert resumed.run_id == run_id
    assert resumed.mined_from_checkpoint
    assert resumed.skipped == stored and resumed.processed == 12 - stored
    _assert_one_graph_per_neuron(store, "tiny", 12, examples=6)
    assert store.read("ingest/run", id=run_id)[0]["produced"] == 12


class _Proxy:
    """A TCP relay in front of Neo4j that can drop every connection: Neo4j 'goes away'."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.down:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.down = True
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def test_losing_neo4j_mid_run_is_a_database_error_and_keeps_what_was_written(
    store, loaded, model_dir, corpus_file, runs_dir, neo4j_settings
):
    from n2g_kb.settings import ConnectionSettings

    proxy = _Proxy(int(neo4j_settings.uri.rsplit(":", 1)[1]))
    settings = ConnectionSettings(uri=f"bolt://127.0.0.1:{proxy.port}", user=neo4j_settings.user,
                                  password=neo4j_settings.password, database=neo4j_settings.database)
    driver = GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password or ""),
                                  max_transaction_retry_time=1.0, connection_timeout=2.0)
    flaky = Store(driver, settings.database, settings=settings)
    try:
        with pytest.raises(DatabaseError, match=f"Cannot reach Neo4j at {settings.uri}"):
            _ingest(flaky, loaded, _options(model_dir, corpus_file), runs_dir, on_written=lambda _: proxy.stop())
    finally:
        proxy.stop()
        driver.close()
    written = len(store.neuron_status("tiny", 0)) + len(store.neuron_status("tiny", 1))
    assert 3 <= written < 12
    _assert_one_graph_per_neuron(store, "tiny", written, examples=6)


def test_a_selection_outside_the_model_fails_before_anything_is_written(store, loaded, model_dir, corpus_file, runs_dir):
    with pytest.raises(SelectionError, match="layer 2 is out of range; tiny has 2 layers"):
        _ingest(store, loaded, _options(model_dir, corpus_file, layers="0-2"), runs_dir)
    with pytest.raises(SelectionError, match="neuron 64 is out of range"):
        _ingest(store, loaded, _options(model_dir, corpus_file, neurons="60-64"), runs_dir)
    assert store.counts() == {"nodes": 0, "relationships": 0}


def test_a_corpus_too_short_for_the_examples_fails_the_run_with_numbers(store, loaded, model_dir, tmp_path, runs_dir):
    short = tmp_path / "short.txt"
    short.write_text("The cat sat on the mat.", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"gave 1 windows .* --examples 6 needs 6"):
        _ingest(store, loaded, _options(model_dir, short), runs_dir)
    assert store.neuron_status("tiny", 0) == {}


def test_a_context_longer_than_the_model_allows_is_a_config_error(store, loaded, model_dir, corpus_file, runs_dir):
    with pytest.raises(ConfigError, match="--context 128 does not fit tiny's context of 128 tokens"):
        _ingest(store, loaded, _options(model_dir, corpus_file, context=128), runs_dir)


def test_augmenting_with_a_masked_lm_adds_variants_to_the_tries(store, loaded, model_dir, corpus_file, runs_dir, tmp_path):
    mlm = build_tiny_masked_lm(tmp_path / "mlm")
    summary = _ingest(store, loaded, _options(model_dir, corpus_file, layers="1", neurons="0-3", augmenter=str(mlm)), runs_dir)
    assert summary.written == 4
    variants = [store.load_neuron("tiny", 1, n).metrics["n_variants"] for n in range(4)]
    assert sum(variants) > 0


def test_the_run_key_depends_on_what_is_computed_not_on_how_fast(model_dir, corpus_file):
    corpus = resolve_corpus(str(corpus_file), "tiny")
    base = _options(model_dir, corpus_file)
    key = run_key(base, corpus, [0, 1], range(6))
    faster = IngestOptions(**(vars(base) | {"batch_size": 64, "chunk_size": 32, "device": "cuda", "force": True}))
    assert run_key(faster, corpus, [0, 1], range(6)) == key
    more = IngestOptions(**(vars(base) | {"examples": 8}))
    assert run_key(more, corpus, [0, 1], range(6)) != key


def test_an_n2g_plus_ingest_stores_its_samples_held_out_text_and_method_and_evaluation_rescores_them(
    store, loaded, model_dir, corpus_file, runs_dir
):
    from n2g_kb.runners.evaluate import evaluate_stored

    computed = []
    options = _options(model_dir, corpus_file, layers="1", neurons="0-3", method="n2g+", heldout=3)
    _ingest(store, loaded, options, runs_dir, on_written=computed.extend)
    ok = [r for r in computed if r.status == "ok"]
    assert ok
    for result in ok:
        stored = store.load_neuron("tiny", 1, result.index)
        assert stored.method == "n2g+" and stored.method_config["backoff"] is True
        splits = [e.split for e in stored.examples]
        assert splits.count("random") == 3 and splits.count("sample") > 0 and splits.count("test") == 3
        assert stored.metrics == pytest.approx(result.metrics)
    scores = {s.index: s.metrics for s in evaluate_stored(store, "tiny", layers=[1], write=False).scored}
    for result in ok:
        for key in ("f1", "nonfiring_f1", "random_f1", "random_nonfiring_f1", "random_baseline_token_f1"):
            assert scores[result.index][key] == pytest.approx(result.metrics[key]), key
