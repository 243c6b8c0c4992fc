"""A stored model name is bound to its source and shape: another model under the same
name is one clear error unless the user picks a new --name or passes --replace."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.errors import ConfigError, CorpusError
from n2g_kb.kb.audit import audit, census
from n2g_kb.lm.model import load_model
from n2g_kb.runners.ingest import IngestOptions, run_ingest
from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """Two different checkpoints in directories of the same name, 'tiny'."""
    root = tmp_path_factory.mktemp("models")
    first = build_tiny_gpt2(root / "a" / "tiny", corpus=synthetic_corpus(200), d_mlp=32, seed=0)
    second = build_tiny_gpt2(root / "b" / "tiny", corpus=synthetic_corpus(200), d_mlp=48, seed=1)
    return first, second


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(synthetic_corpus(150, seed=5)), encoding="utf-8")
    return path


def _ingest(store, model_dir: Path, corpus: Path, tmp_path: Path, **overrides):
    options = IngestOptions(**(dict(
        model=str(model_dir), layers="0", neurons="0-1", examples=4, corpus=str(corpus), context=24,
        batch_size=16, augmenter=None, chunk_size=2, device="cpu",
    ) | overrides))  # fmt: skip
    loaded = load_model(str(model_dir), device="cpu")
    return run_ingest(store, options, load_model=lambda *a, **k: loaded, runs_dir=tmp_path / "runs")


def _model(store, name: str = "tiny") -> dict:
    return store.read("eval/model", model=name)[0]["model"]


def test_another_checkpoint_under_a_stored_name_is_refused_and_changes_nothing(store, models, corpus_file, tmp_path):
    first, second = models
    _ingest(store, first, corpus_file, tmp_path)
    before, counts = _model(store), store.counts()
    with pytest.raises(ConfigError) as e:
        _ingest(store, second, corpus_file, tmp_path)
    assert str(e.value) == (
        f"the knowledge base already holds a model named 'tiny' from {first} (2 layers, 32 neurons per layer); "
        f"{second} is another model: pass --name to store it under a new name, or --replace to delete the "
        "stored 'tiny' and ingest this one"
    )
    assert _model(store) == before and store.counts() == counts
    assert audit(store, "tiny") == []


def test_a_new_name_keeps_both_models(store, models, corpus_file, tmp_path):
    first, second = models
    _ingest(store, first, corpus_file, tmp_path)
    _ingest(store, second, corpus_file, tmp_path, name="tiny-b")
    assert _model(store)["source"] == str(first) and _model(store, "tiny-b")["source"] == str(second)
    assert _model(store, "tiny-b")["d_mlp"] == 48


def test_replace_deletes_the_stored_model_and_a_rerun_resumes_instead_of_deleting_again(store, models, corpus_file, tmp_path):
    first, second = models
    _ingest(store, first, corpus_file, tmp_path, neurons="0-3")
    summary = _ingest(store, second, corpus_file, tmp_path, replace=True)
    assert (_model(store)["source"], _model(store)["d_mlp"]) == (str(second), 48)
    assert summary.written + summary.dead == 2
    assert len(store.read("ingest/audit_neurons", model="tiny")) == 2  # the old 4 neurons are gone
    assert [r["id"] for r in store.read("ingest/audit_runs", model="tiny")] == [summary.run_id]
    assert audit(store, "tiny") == []
    again = _ingest(store, second, corpus_file, tmp_path, replace=True)
    assert again.skipped == 2 and again.processed == 0


def test_a_first_ingest_that_fails_leaves_no_empty_model(store, models, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("The cat sat on the mat.", encoding="utf-8")
    with pytest.raises(CorpusError):
        _ingest(store, models[0], short, tmp_path)
    assert _model(store) is None and store.read("ingest/audit_runs", model="tiny") == []
    assert {kind: n for kind, n in census(store).items() if kind != "KnowledgeBase"} == {}  # the KB's own node aside


def test_the_cli_says_it_in_one_line(cli_env, store, models, corpus_file, tmp_path):
    first, second = models
    args = ["--layers", "0", "--neurons", "0", "--examples", "4", "--corpus", str(corpus_file), "--context", "24",
            "--augmenter", "none", "--device", "cpu"]  # fmt: skip
    env = cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "400"}
    assert runner.invoke(app, ["ingest", str(first), *args], env=env).exit_code == 0
    result = runner.invoke(app, ["ingest", str(second), *args], env=env)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "--replace" in lines[0] and "Traceback" not in result.output
