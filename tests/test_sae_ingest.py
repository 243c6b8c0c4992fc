"""SAE latents, transcoder features and gated-MLP neurons through the whole pipeline.

A tiny SAE and a tiny transcoder are trained in-process on the tiny GPT-2's activations and
written in the SAELens layout; `n2gkb ingest MODEL --sae DIR --latents ...` mines, extracts
and stores their latents under `MODEL@SAE`, and `search`, `show` and `evaluate` (from the
stored graphs and on a new corpus) and `site` read them back. A tiny Llama goes through the same CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.lm.model import load_model
from n2g_kb.lm.sae import load_sae
from n2g_kb.runners.ingest import IngestOptions, run_ingest
from n2g_kb.testing import build_tiny_causal_lm, build_tiny_gpt2, synthetic_corpus, train_tiny_sae

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", corpus=synthetic_corpus(300), d_mlp=64, d_model=32)


@pytest.fixture(scope="module")
def saes(model_dir, tmp_path_factory) -> dict[str, Path]:
    base = load_model(str(model_dir), device="cpu")
    root = tmp_path_factory.mktemp("saes")
    return {
        "res": train_tiny_sae(base, root / "res-sae", hook="blocks.1.hook_resid_post"),
        "tc": train_tiny_sae(base, root / "tc", hook="blocks.0.ln2.hook_normalized", architecture="transcoder"),
    }


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(synthetic_corpus(200, seed=5)), encoding="utf-8")
    return path


@pytest.fixture
def env(cli_env, tmp_path) -> dict[str, str]:
    return cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}


def _ingest(env, model: Path, corpus: Path, *extra: str):
    args = ["ingest", str(model), "--examples", "4", "--corpus", str(corpus), "--context", "24",
            "--augmenter", "none", "--chunk-size", "4", "--device", "cpu", *extra]  # fmt: skip
    return runner.invoke(app, args, env=env)


def _json(env, *args: str):
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sae_latents_are_ingested_searched_shown_and_evaluated(env, store, model_dir, saes, corpus_file, tmp_path):
    result = _ingest(env, model_dir, corpus_file, "--sae", str(saes["res"]), "--latents", "0-7")
    assert result.exit_code == 0, result.output
    name = "tiny@res-sae"
    rows = store.read("ingest/audit_neurons", model=name)
    assert [(r["layer"], r["index"]) for r in rows] == [(1, i) for i in range(8)]  # the SAE's layer, by default

    model = next(m for m in _json(env, "search", "models") if m["model"] == name)
    props = model["properties"]
    assert (props["kind"], props["base_model"], props["sae"], props["sae_hook"]) == (
        "sae_latent", "tiny", "res-sae", "blocks.1.hook_resid_post",
    )  # fmt: skip
    assert props["sae_source"] == str(saes["res"].resolve()) and props["d_sae"] == 64
    units = _json(env, "search", "units", "--kind", "sae_latent")
    assert [(u["model"], u["layer"], u["units"], u["sae"]) for u in units] == [(name, 1, 8, "res-sae")]

    # The stored examples hold the SAE encoder's output, measured by an independent forward.
    ok = [r["index"] for r in rows if store.load_neuron(name, 1, r["index"]).status == "ok"]
    assert ok, "a trained SAE has latents that fire on the corpus"
    stored = store.load_neuron(name, 1, ok[0])
    assert (stored.kind, stored.sae) == ("sae_latent", "res-sae")
    check = load_model(str(model_dir), device="cpu")
    check.attach_sae(load_sae(str(saes["res"])))
    example = stored.examples[0]
    ids = check.to_tokens("".join(example.tokens), prepend_bos=True)
    if len(ids) == len(example.tokens) + 1:  # the text re-tokenises to the same tokens
        acts = check.layer_activations(torch.tensor([ids]), [1])[1][0, 1:, ok[0]]
        torch.testing.assert_close(torch.tensor(example.activations), acts, rtol=1e-4, atol=1e-5)
    assert stored.max_activation == pytest.approx(max(max(e.activations) for e in stored.examples), rel=1e-5)

    shown = _json(env, "show", name, "1", str(ok[0]))
    assert (shown["kind"], shown["sae"], shown["status"]) == ("sae_latent", "res-sae", "ok")
    text = runner.invoke(app, ["show", name, "1", str(ok[0])], env=env)
    assert f"{name}  layer 1  latent {ok[0]}  status ok" in text.stdout

    site = runner.invoke(app, ["site", str(tmp_path / "site"), "--model", name], env=env)
    assert site.exit_code == 0, site.output
    page = tmp_path / "site" / "n" / "tiny_res-sae" / f"1_{ok[0]}.html"
    assert page.is_file() and name in page.read_text(encoding="utf-8")

    evaluated = runner.invoke(app, ["evaluate", name, "--json"], env=env)
    assert evaluated.exit_code == 0, evaluated.output
    on_corpus = runner.invoke(
        app, ["evaluate", name, "--corpus", str(corpus_file), "--max-tokens", "2000", "--context", "24", "--json"], env=env
    )
    assert on_corpus.exit_code == 0, on_corpus.output
    report = json.loads(on_corpus.stdout)
    assert json.dumps(report).count("corpus") > 0
    props = store.load_neuron(name, 1, ok[0])
    assert any(k.startswith("corpus_") for k in props.metrics), "evaluate --corpus ran the SAE and stored its figures"


def test_transcoder_features_are_stored_with_their_kind(store, model_dir, saes, corpus_file, tmp_path):
    options = IngestOptions(
        model=str(model_dir), layers=None, sae=str(saes["tc"]), latents="0-3", examples=4, corpus=str(corpus_file),
        context=24, augmenter=None, device="cpu", max_tokens=4000,
    )  # fmt: skip
    summary = run_ingest(store, options, runs_dir=tmp_path / "runs")
    assert summary.model == "tiny@tc" and summary.layers == (0,)
    assert summary.written + summary.dead == 4
    for i in range(4):
        unit = store.load_neuron("tiny@tc", 0, i)
        assert (unit.kind, unit.sae) == ("transcoder", "tc")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layers", "0", "--latents", "0-3"], "Error: --latents chooses SAE latents; pass --sae too"),
        (["--sae", "{res}", "--layers", "0"], "Error: SAE res-sae reads layer 1 (blocks.1.hook_resid_post); its latents have no layer 0: use --layers 1"),
        (["--sae", "{res}", "--latents", "60-70"], "Error: --latents: neuron 64 is out of range"),
        (["--sae", "{nowhere}"], "is not an SAE directory (it needs cfg.json and sae_weights.safetensors"),
    ],
)
def test_bad_sae_options_are_one_line_and_exit_1(env, model_dir, saes, corpus_file, tmp_path, extra, message):
    extra = [e.format(res=saes["res"], nowhere=tmp_path) for e in extra]
    result = _ingest(env, model_dir, corpus_file, *extra)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert message in errors[0]


def test_a_tiny_llama_is_ingested_end_to_end_from_a_local_directory(env, store, corpus_file, tmp_path):
    path = build_tiny_causal_lm(tmp_path / "tiny-llama", "llama")
    result = _ingest(env, path, corpus_file, "--layers", "0-1", "--neurons", "0-3")
    assert result.exit_code == 0, result.output
    rows = store.read("ingest/audit_neurons", model="tiny-llama")
    assert [(r["layer"], r["index"]) for r in rows] == [(layer, n) for layer in (0, 1) for n in range(4)]
    statuses = {store.load_neuron("tiny-llama", r["layer"], r["index"]).status for r in rows}
    assert "ok" in statuses and "failed" not in statuses
    model = next(m for m in _json(env, "search", "models") if m["model"] == "tiny-llama")
    assert model["properties"]["kind"] == "neuron" and model["properties"]["hook"] == "blocks.{layer}.mlp.hook_post"
    shown = _json(env, "show", "tiny-llama", "1", "0")
    assert shown["kind"] == "neuron" and shown["sae"] is None
