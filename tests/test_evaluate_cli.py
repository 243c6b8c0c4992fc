"""`n2gkb evaluate` end to end: a tiny model extracted in memory, stored, scored back."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.n2g.results import Example, NeuronResult

runner = CliRunner()
NAME = "tiny-eval"
LAYERS = (0, 1)
NEURONS = list(range(6))


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> tuple[Path, list[NeuronResult]]:
    """A tiny GPT-2 and its neurons extracted in memory (no database), as ingest would."""
    from n2g_kb.n2g.config import N2GConfig
    from n2g_kb.runners.corpus import token_windows
    from n2g_kb.n2g.extract import extract_neurons
    from n2g_kb.runners.mining import MiningOptions, mine
    from n2g_kb.lm.model import load_model
    from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

    path = build_tiny_gpt2(tmp_path_factory.mktemp("models") / NAME, n_layers=2, d_mlp=32, vocab_size=300, n_ctx=64)
    model = load_model(str(path), device="cpu")
    windows = token_windows(synthetic_corpus(200, seed=4), model.to_tokens_batch, model.bos_token_id, 24, max_tokens=3000)
    mined = mine(model, list(LAYERS), NEURONS, windows, MiningOptions(n_examples=6, context=24, max_tokens=3000))
    config = N2GConfig(n_examples=6, augment_model=None, max_length=64, batch_tokens=4096)
    results = []
    for layer in LAYERS:
        examples = {n: mined.examples(layer, n, model.to_str_tokens) for n in NEURONS}
        found = extract_neurons(model, layer, NEURONS, examples, mined.max_activations(layer, NEURONS), config)
        results += [replace(r, model=NAME) for r in found]
    assert all(r.status == "ok" and r.metrics for r in results)
    return path, results


@pytest.fixture
def stored(store, extracted) -> list[NeuronResult]:
    """The extracted neurons in Neo4j with their figures removed, so only evaluation can
    put them back."""
    path, results = extracted
    store.upsert_model(NAME, source=str(path), n_layers=2, d_mlp=32)
    store.write_neurons(NAME, [replace(r, metrics={}) for r in results])
    return results


def _props(store, layers=None) -> dict[tuple[int, int], dict]:
    return {(r["layer"], r["index"]): r for r in store.read("eval/evaluated", model=NAME, layers=layers)}


def test_evaluate_writes_the_figures_extraction_computed_in_memory(cli_env, store, stored, tmp_path):
    result = runner.invoke(app, ["evaluate", NAME, "--out", str(tmp_path / "report")], env=cli_env)
    assert result.exit_code == 0, result.output
    for r in stored:
        row = _props(store)[(r.layer, r.index)]
        assert row["evaluated_at"] is not None
        got = {k: row["properties"][k] for k in r.metrics if k in row["properties"]}
        expected = {k: v for k, v in r.metrics.items() if k not in ("n_pruned_prompts", "n_variants")}
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert set(got) == set(expected)
    assert "Stored the figures on 12 Neuron nodes." in result.output


def test_evaluate_prints_the_layer_table_and_writes_every_report_file(cli_env, stored, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", NAME, "--out", str(out)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "N2G on held-out test examples" in result.output
    assert "Token" in result.output and "N-gram" in result.output
    assert "…" not in result.output  # fits an 80-column terminal
    files = {p.name: p for p in out.iterdir()}
    assert set(files) == {"table.md", "table.csv", "table.json", "f1_by_layer.png", "neurons.csv"}
    assert files["f1_by_layer.png"].read_bytes()[:4] == b"\x89PNG"
    report = json.loads(files["table.json"].read_text())
    assert [row["layer"] for row in report["layers"]] == [0, 1]
    assert report["overall"]["neurons"] == 12
    mean_f1 = sum(r.metrics["f1"] for r in stored if r.metrics["support"] > 0) / sum(r.metrics["support"] > 0 for r in stored)
    assert report["overall"]["f1"] == pytest.approx(mean_f1)
    assert "| all | 12 |" in files["table.md"].read_text()


def test_json_output_is_the_report_for_scripts(cli_env, stored):
    result = runner.invoke(app, ["evaluate", NAME, "--layers", "1", "--neurons", "0-2", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["neurons"] == {"selected": 3, "evaluated": 3, "skipped": 0, "written": 3}
    assert [row["layer"] for row in payload["layers"]] == [1]
    assert payload["settings"]["threshold"] == 0.5


def test_neurons_without_graphs_or_test_examples_are_listed_and_skipped(cli_env, store, stored, tmp_path):
    first = stored[0]
    store.write_neurons(
        NAME,
        [
            NeuronResult(NAME, 0, 20, 1.0, trie_nodes=[], examples=first.examples),
            NeuronResult(NAME, 0, 21, 1.0, trie_nodes=first.trie_nodes, examples=[Example(["a"], [1.0], "train")]),
            NeuronResult(NAME, 0, 22, 0.0, status="dead"),
        ],
    )
    result = runner.invoke(app, ["evaluate", NAME, "--layers", "0", "--out", str(tmp_path)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Skipped: 1 no graph, 1 no test examples, 1 dead" in result.output
    neurons = (tmp_path / "neurons.csv").read_text()
    assert "0,20,False,no graph:" in neurons and "0,22,False,dead:" in neurons
    assert _props(store, [0])[(0, 20)]["evaluated_at"] is None


def test_an_empty_selection_says_so_in_one_line_and_exits_1(cli_env, stored):
    result = runner.invoke(app, ["evaluate", NAME, "--layers", "7"], env=cli_env)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: No stored neurons of {NAME} match --layers 7; the knowledge base holds layers 0-1 of this model"
    )


def test_an_unknown_model_says_to_ingest_it_and_exits_1(cli_env):
    result = runner.invoke(app, ["evaluate", "nope"], env=cli_env)
    assert result.exit_code == 1
    assert "No neurons of model 'nope'" in result.output and "n2gkb ingest nope" in result.output
    assert "Traceback" not in result.output


def test_a_bad_threshold_is_one_line_before_anything_runs(cli_env):
    result = runner.invoke(app, ["evaluate", NAME, "--threshold", "1.5"], env=cli_env)
    assert result.exit_code == 1
    assert result.output.startswith("Error: --threshold 1.5 is invalid")


def test_no_write_reports_without_storing(cli_env, store, stored):
    result = runner.invoke(app, ["evaluate", NAME, "--no-write"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert all(row["evaluated_at"] is None for row in _props(store).values())
    assert "Stored the figures" not in result.output


def test_evaluating_on_new_text_stores_corpus_figures_beside_the_held_out_ones(cli_env, store, stored, tmp_path):
    from n2g_kb.testing import synthetic_corpus

    corpus = tmp_path / "new.txt"
    corpus.write_text("\n\n".join(synthetic_corpus(60, seed=11)), encoding="utf-8")
    args = ["evaluate", NAME, "--layers", "1", "--corpus", str(corpus), "--context", "16", "--max-tokens", "96"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "report")], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "N2G on new text" in result.output
    rows = _props(store)
    for layer, index in [(1, n) for n in NEURONS]:
        props = rows[(layer, index)]["properties"]
        assert props["corpus_n_tokens"] == 96.0
        assert 0.0 <= props["corpus_f1"] <= 1.0
        assert "f1" not in props  # the held-out figures were removed and stay untouched
        settings = json.loads(rows[(layer, index)]["corpus_eval_settings_json"])
        assert settings["corpus"]["path"] == str(corpus.resolve())
        assert settings["tokens_scored"] == 96
    assert "corpus_f1" not in rows[(0, 0)]["properties"]
    assert json.loads((tmp_path / "report" / "table.json").read_text())["kind"] == "corpus"


def test_new_text_that_is_missing_is_one_line_and_exit_1(cli_env, stored, tmp_path):
    result = runner.invoke(app, ["evaluate", NAME, "--corpus", str(tmp_path / "missing.txt")], env=cli_env)
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_evaluate_has_help_text():
    result = runner.invoke(app, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "held-out test examples" in result.output and "--corpus" in result.output
