"""Ingest on a local Ray (CPU, 2 workers): the same knowledge base as one process, also when a worker dies."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from cli.main import app

from n2g_kb.errors import ConfigError
from n2g_kb.lm.model import load_model
from n2g_kb.runners.ingest import IngestOptions, ProgressEvent, run_ingest
from n2g_kb.testing import graph_differences, stored_graphs

ray = pytest.importorskip("ray")

from n2g_kb.runners.scale import FAULT_ENV, RayOptions, run_ray_ingest  # noqa: E402


runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _options(model_dir, corpus_file, **overrides) -> IngestOptions:
    base = dict(model=str(model_dir), layers="0-1", neurons="0-5", examples=6, corpus=str(corpus_file), context=24,
                batch_size=8, augmenter=None, chunk_size=2, device="cpu", method="paper", heldout=0)  # fmt: skip
    return IngestOptions(**(base | overrides))


def _cpus_freed_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while ray.available_resources().get("CPU", 0) < 2:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_ray_ingest_equals_a_single_process_one(local_ray, store, neo4j_settings, model_dir, corpus_file, tmp_path):
    options = _options(model_dir, corpus_file)
    single = run_ingest(store, options, load_model=lambda *a, **k: load_model(str(model_dir), device="cpu"),
                        runs_dir=tmp_path / "single")  # fmt: skip
    expected = stored_graphs(store, "tiny", [0, 1], range(6))
    store.clear()

    def interrupt_after_a_chunk(event: ProgressEvent) -> None:
        if event.stage == "layer" and event.done > 0:
            raise KeyboardInterrupt  # Ctrl-C while the workers are busy

    with pytest.raises(KeyboardInterrupt):
        run_ray_ingest(store, options, neo4j_settings, RayOptions(workers=2), progress=interrupt_after_a_chunk,
                       runs_dir=tmp_path / "ray")  # fmt: skip
    assert store.read("ingest/run", id=single.run_id)[0]["run"]["status"] == "interrupted"
    assert _cpus_freed_within(30.0)  # the workers were stopped, not left running
    stored = len(store.neuron_status("tiny", 0)) + len(store.neuron_status("tiny", 1))
    assert 2 <= stored < 12

    summary = run_ray_ingest(store, options, neo4j_settings, RayOptions(workers=2), runs_dir=tmp_path / "ray")
    assert summary.run_id == single.run_id and summary.skipped == stored and summary.mined_from_checkpoint
    assert (summary.processed, summary.failed, summary.tokens_mined) == (12 - stored, 0, single.tokens_mined)
    assert graph_differences(stored_graphs(store, "tiny", [0, 1], range(6)), expected) == []
    run = store.read("ingest/run", id=summary.run_id)[0]
    assert run["produced"] == 12 and run["run"]["status"] == "finished" and run["run"]["ray_workers"] == 2


def test_a_worker_killed_mid_run_is_retried_and_every_neuron_has_one_graph(local_ray, cli_env, store, model_dir, corpus_file, tmp_path):
    # The default method (n2g+: sampled, negative and held-out windows besides the top k),
    # so the Ray run must also carry those to the workers to equal one process.
    single = run_ingest(store, _options(model_dir, corpus_file, method="n2g+", heldout=32),
                        load_model=lambda *a, **k: load_model(str(model_dir), device="cpu"), runs_dir=tmp_path / "single")  # fmt: skip
    expected = stored_graphs(store, "tiny", [0, 1], range(6))
    assert (single.processed, single.failed) == (12, 0)
    assert any(len(g[3]) > 6 for g in expected.values())  # n2g+ stores more than the top 6
    store.clear()
    marker = tmp_path / "killed"
    env = cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200", FAULT_ENV: str(marker)}
    args = ["ingest", str(model_dir), "--layers", "0-1", "--neurons", "0-5", "--examples", "6", "--corpus", str(corpus_file),
            "--context", "24", "--batch-size", "8", "--augmenter", "none", "--chunk-size", "2", "--device", "cpu",
            "--ray", "local", "--workers", "2"]  # fmt: skip
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert marker.exists()  # a worker did die, right after committing a chunk
    assert "Ingest summary" in result.output
    run_id = store.read("ingest/audit_neurons", model="tiny")[0]["run_id"]
    run = store.read("ingest/run", id=run_id)[0]
    assert run["run"]["status"] == "finished" and run["run"]["ray_worker_processes"] == 3  # 2 + the restarted one
    assert (run["run"]["neurons_written"] + run["run"]["neurons_dead"], run["run"]["neurons_failed"]) == (12, 0)
    rows = store.read("ingest/audit_neurons", model="tiny")
    assert [(r["layer"], r["index"]) for r in rows] == [(layer, n) for layer in (0, 1) for n in range(6)]
    for row in rows:
        assert row["model_edges"] == 1 and row["trie_nodes"] == row["n_trie_nodes"]
        assert row["roots"] == (1 if row["status"] == "ok" else 0)
        assert row["examples"] == len(expected[(row["layer"], row["index"])][3])
    assert store.read("ingest/audit_orphans", model="tiny")[0] == {
        "orphan_trie_nodes": 0, "orphan_examples": 0, "trie_nodes_without_neuron": 0,
    }  # fmt: skip
    assert run["produced"] == 12
    assert graph_differences(stored_graphs(store, "tiny", [0, 1], range(6)), expected) == []


def test_more_workers_than_the_cluster_has_is_one_line(local_ray, cli_env, model_dir, corpus_file):
    args = ["ingest", str(model_dir), "--layers", "0", "--corpus", str(corpus_file), "--augmenter", "none",
            "--device", "cpu", "--ray", "local", "--workers", "5"]  # fmt: skip
    result = runner.invoke(app, args, env=cli_env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "Error: --workers 5 needs 5 CPUs; the Ray cluster has 2" in result.output


def test_ray_and_shard_do_not_mix(store, neo4j_settings, model_dir, corpus_file):
    options = IngestOptions(model=str(model_dir), layers="0", corpus=str(corpus_file), shard="1/2")
    with pytest.raises(ConfigError, match="--shard and --ray do not mix"):
        run_ray_ingest(store, options, neo4j_settings)
