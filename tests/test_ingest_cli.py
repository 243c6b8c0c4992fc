"""`n2gkb ingest` through the CLI: help, one-line errors, and a killed run that resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.n2g.extract import extract_neurons
from n2g_kb.faults import FAULT_ENV
from n2g_kb.runners.ingest import IngestOptions
from n2g_kb.runners.mining import MinedExamples
from n2g_kb.lm.model import load_model

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(cli_env, tmp_path) -> dict[str, str]:
    return cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}


def _args(model_dir, corpus_file, *extra: str) -> list[str]:
    return [
        "ingest", str(model_dir), "--layers", "0-1", "--neurons", "0-3", "--examples", "4",
        "--corpus", str(corpus_file), "--context", "24", "--augmenter", "none", "--chunk-size", "2",
        "--device", "cpu", *extra,
    ]  # fmt: skip


def _error_line(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


def test_ingest_help_lists_its_options():
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--layers", "--neurons", "--examples", "--corpus", "--max-tokens", "--device", "--batch-size",
                   "--augmenter", "--force", "--name", "--uri", "--sae", "--latents", "--dtype"):
        assert option in result.output


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("3-1", "Error: --layers 3-1: range end 1 is before start 3; use e.g. 1-3"),
        ("x", "Error: --layers x: 'x' is not a layer number or range; use e.g. 0-11 or 0-3,7"),
        ("0-9", "Error: --layers: layer 2 is out of range; tiny has 2 layers (use 0-1)"),
    ],
)
def test_a_bad_layer_selection_is_one_line_and_exit_1(env, model_dir, corpus_file, layers, message):
    args = _args(model_dir, corpus_file)
    args[args.index("--layers") + 1] = layers
    result = runner.invoke(app, args, env=env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert _error_line(result) == message


def test_an_unknown_model_is_one_line_and_exit_1(env, corpus_file, tmp_path):
    result = runner.invoke(app, _args(tmp_path / "no-such-model", corpus_file), env=env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "is not a model directory" in _error_line(result)


def test_an_empty_corpus_is_one_line_and_exit_1(env, model_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = runner.invoke(app, _args(model_dir, empty), env=env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "no text to mine" in _error_line(result)


def _close(a: list[dict], b: list[dict]) -> bool:
    """Trie rows equal up to float rounding."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for key in x:
            if isinstance(x[key], float) or isinstance(y[key], float):
                if x[key] is None or y[key] is None or abs(x[key] - y[key]) > 1e-4:
                    return False
            elif x[key] != y[key]:
                return False
    return True


def test_a_killed_ingest_reruns_to_exactly_one_graph_per_neuron(env, store, model_dir, corpus_file):
    args = _args(model_dir, corpus_file)
    killed = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=os.environ | env | {FAULT_ENV: "chunk-written@2"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    partial = store.read("ingest/audit_neurons", model="tiny")
    assert 4 <= len(partial) < 8

    rerun = runner.invoke(app, args, env=env | {"COLUMNS": "200"})
    assert rerun.exit_code == 0, rerun.output
    assert f"Resuming: {len(partial)} of 8 neurons" in rerun.output
    assert "using the examples mined by an earlier attempt" in rerun.output
    assert "Ingest summary" in rerun.output

    rows = store.read("ingest/audit_neurons", model="tiny")
    assert [(r["layer"], r["index"]) for r in rows] == [(layer, n) for layer in (0, 1) for n in range(4)]
    assert all(r["roots"] == 1 and r["trie_nodes"] == r["n_trie_nodes"] and r["examples"] >= 4 for r in rows)
    assert store.read("ingest/audit_orphans", model="tiny")[0] == {
        "orphan_trie_nodes": 0, "orphan_examples": 0, "trie_nodes_without_neuron": 0,
    }  # fmt: skip
    assert {r["run_id"] for r in rows} == {rows[0]["run_id"]}
    assert store.read("ingest/run", id=rows[0]["run_id"])[0]["run"]["status"] == "finished"

    # The stored graphs are the ones extraction computes from the checkpointed examples.
    checkpoint = Path(env["N2GKB_DATA_DIR"]) / "runs" / rows[0]["run_id"] / "mined.pt"
    mined = MinedExamples.load(checkpoint)
    assert mined is not None
    model = load_model(str(model_dir), device="cpu")
    config = IngestOptions(model=str(model_dir), layers="0-1", examples=4, augmenter=None).n2g_config()
    for layer in (0, 1):
        examples = {n: mined.examples(layer, n, model.to_str_tokens) for n in range(4)}
        extra = {n: mined.extra(layer, n, model.to_str_tokens) for n in range(4)}
        maxima = mined.max_activations(layer, range(4))
        computed = extract_neurons(model, layer, range(4), examples, maxima, config, extra=extra)
        for result in computed:
            stored = store.load_neuron("tiny", layer, result.index)
            assert stored.status == result.status
            assert _close(stored.trie_nodes, result.trie_nodes), (layer, result.index)
            assert stored.examples == result.examples
            assert len(stored.examples) == next(r["examples"] for r in rows if (r["layer"], r["index"]) == (layer, result.index))
