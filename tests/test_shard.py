"""`--shard I/N` and `--finish`: N independent processes build the knowledge base one process would."""

from __future__ import annotations


import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.errors import ConfigError, N2GKBError, NotFoundError
from n2g_kb.lm.model import load_model
from n2g_kb.runners.ingest import IngestOptions, run_ingest
from n2g_kb.runners.shard import Shard, finish_sharded, shards_holding
from n2g_kb.testing import graph_differences, stored_graphs

runner = CliRunner()


@pytest.fixture(scope="module")
def loaded(model_dir):
    return load_model(str(model_dir), device="cpu")


def _options(model_dir, corpus_file, **overrides) -> IngestOptions:
    base = dict(model=str(model_dir), layers="0-1", neurons="0-4", examples=6, corpus=str(corpus_file), context=24,
                batch_size=16, augmenter=None, chunk_size=2, device="cpu", method="paper", heldout=0)  # fmt: skip
    return IngestOptions(**(base | overrides))


def test_the_shards_are_disjoint_contiguous_and_cover_every_neuron():
    layers, neurons = [0, 1, 2], list(range(5))
    parts = [Shard(i, 4).part(layers, neurons) for i in range(1, 5)]
    pairs = [(layer, n) for part in parts for layer, ns in part.items() for n in ns]
    assert pairs == [(layer, n) for layer in layers for n in neurons]
    assert [sum(len(v) for v in p.values()) for p in parts] == [3, 4, 4, 4]
    assert shards_holding([(0, 0), (2, 4)], layers, neurons, 4) == [1, 4]
    assert Shard(3, 3).part([0], [7]) == {0: [7]} and Shard(1, 3).part([0], [7]) == {}


@pytest.mark.parametrize("text", ["0/4", "5/4", "1-4", "x", "1/0"])
def test_a_bad_shard_is_a_config_error(text):
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse(text)


def test_sharded_ingest_equals_a_single_process_one_and_finish_records_the_run(store, loaded, model_dir, corpus_file, tmp_path):
    def ingest(options):
        return run_ingest(store, options, load_model=lambda *a, **k: loaded, runs_dir=tmp_path / "runs")

    single = ingest(_options(model_dir, corpus_file))
    expected = stored_graphs(store, "tiny", [0, 1], range(5))
    store.clear()

    first = ingest(_options(model_dir, corpus_file, shard="1/3"))
    assert (first.neurons_chosen, first.processed) == (3, 3)
    with pytest.raises(N2GKBError, match=r"incomplete: 7 of 10 neurons are not stored \(layer 0: 3-4; layer 1: 0-4\); "
                                         r"run their shards again \(--shard 2/3, --shard 3/3\)"):
        finish_sharded(store, _options(model_dir, corpus_file))
    for i in (3, 2):  # any order
        ingest(_options(model_dir, corpus_file, shard=f"{i}/3"))
    again = ingest(_options(model_dir, corpus_file, shard="2/3"))
    assert (again.skipped, again.processed) == (again.neurons_chosen, 0)

    run = store.read("ingest/run", id=single.run_id)[0]
    assert run["run"]["status"] == "running" and run["produced"] == 10
    assert {run["run"][f"shard_{i}_of_3"] for i in (1, 2, 3)} == {"finished"}
    done = finish_sharded(store, _options(model_dir, corpus_file))
    assert done.run_id == single.run_id and (done.written + done.dead, done.neurons_chosen) == (10, 10)
    run = store.read("ingest/run", id=single.run_id)[0]["run"]
    assert run["status"] == "finished" and run["neurons_written"] == done.written
    assert graph_differences(stored_graphs(store, "tiny", [0, 1], range(5)), expected) == []
    rows = store.read("ingest/audit_neurons", model="tiny")
    assert len(rows) == 10 and all(r["roots"] == (r["status"] == "ok") for r in rows)


def test_finish_before_any_shard_ran_says_what_to_run(store, model_dir, corpus_file):
    with pytest.raises(NotFoundError, match="no shard of this ingest of tiny has run yet"):
        finish_sharded(store, _options(model_dir, corpus_file))


def test_shards_and_finish_through_the_cli(cli_env, store, model_dir, corpus_file, tmp_path):
    env = cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    args = ["ingest", str(model_dir), "--layers", "1", "--neurons", "0-3", "--examples", "4", "--corpus",
            str(corpus_file), "--context", "24", "--augmenter", "none", "--device", "cpu"]  # fmt: skip
    for i in (1, 2):
        result = runner.invoke(app, [*args, "--shard", f"{i}/2"], env=env)
        assert result.exit_code == 0, result.output
        assert f"Shard {i}/2 is done" in result.output
    finished = runner.invoke(app, [*args, "--finish"], env=env)
    assert finished.exit_code == 0, finished.output
    assert "finished: all 4 neurons are stored" in finished.output
    both = runner.invoke(app, [*args, "--finish", "--shard", "1/2"], env=env)
    assert both.exit_code == 1 and "Error: --finish closes the whole ingest" in both.output


def test_graph_differences_finds_a_changed_trie_row_status_or_missing_neuron():
    row = {"id": 1, "parent": 0, "kind": "token", "token": " Paris", "depth": 1, "activation": 0.9}
    snapshot = {(0, 1): ("ok", 2.0, [row], [["a", "b"]]), (0, 2): ("dead", 0.0, [], [])}
    assert graph_differences(snapshot, dict(snapshot)) == []
    near = {(0, 1): ("ok", 2.0, [row | {"activation": 0.90001}], [["a", "b"]]), (0, 2): snapshot[(0, 2)]}
    assert graph_differences(snapshot, near) == []
    moved = {(0, 1): ("ok", 2.0, [row | {"token": " London"}], [["a", "b"]]), (0, 2): ("failed", 0.0, [], [])}
    assert graph_differences(snapshot, moved) == ["(0, 1): trie rows differ", "(0, 2): status or examples differ"]
    assert graph_differences(snapshot, {(0, 1): snapshot[(0, 1)]}) == ["(0, 2): only in one"]


def test_ingest_help_lists_the_scale_out_options():
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--shard", "--finish", "--ray", "--workers"):
        assert option in result.output


def test_sharded_n2g_plus_equals_a_single_process_one(store, loaded, model_dir, corpus_file, tmp_path):
    # n2g+ also stores sampled, negative and held-out windows; each shard mines them for its neurons alone.
    def ingest(**overrides):
        options = _options(model_dir, corpus_file, method="n2g+", heldout=32, **overrides)
        return run_ingest(store, options, load_model=lambda *a, **k: loaded, runs_dir=tmp_path / "runs")

    ingest()
    expected = stored_graphs(store, "tiny", [0, 1], range(5))
    assert any(len(g[3]) > 6 for g in expected.values())  # more than the top 6 are stored
    store.clear()
    for i in (1, 2):
        ingest(shard=f"{i}/2")
    finish_sharded(store, _options(model_dir, corpus_file, method="n2g+", heldout=32))
    assert graph_differences(stored_graphs(store, "tiny", [0, 1], range(5)), expected) == []
