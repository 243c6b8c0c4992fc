"""Inputs that used to end in a traceback, a silent loss or a runaway: each is now one
line on stderr and exit code 1 (or a correct result), and nothing stored is lost."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.n2g.results import Example, NeuronResult
from n2g_kb.n2g.trie import MAX_TOKEN_BYTES, normalise_token, token_key

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
ESCAPE = "\x1b[31m"  # a token that looks like a terminal colour code


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def _neuron(index: int, firing: str, context: str = "in") -> NeuronResult:
    rows = [
        dict(id=0, parent=None, kind="root", token=None, depth=0, activation=None, importance=None, end_activation=None),
        dict(id=1, parent=0, kind="token", token=firing, depth=1, activation=0.9, importance=None, end_activation=None),
        dict(id=2, parent=1, kind="token", token=context, depth=2, activation=None, importance=0.8, end_activation=0.9),
    ]
    return NeuronResult(
        model="tiny", layer=0, index=index, max_activation=2.0, trie_nodes=rows,
        firing_tokens={firing: 0.9}, context_tokens={context: 0.8},
        examples=[
            Example(tokens=[context, firing, "."], activations=[0.0, 2.0, 0.0], split="train"),
            Example(tokens=[context, firing], activations=[0.1, 1.8], split="test"),
        ],
    )  # fmt: skip


def test_a_token_that_looks_like_an_escape_sequence_survives_csv_and_json(cli_env, store):
    store.write_neurons("tiny", [_neuron(0, ESCAPE)])
    result = runner.invoke(app, ["search", "token", ESCAPE, "--csv"], env=cli_env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["neuron"], r["token"]) for r in rows] == [("0", ESCAPE)]
    result = runner.invoke(app, ["search", "token", ESCAPE, "--json"], env=cli_env)
    assert ESCAPE.encode("unicode_escape").decode().replace("\\x", "\\u00") in result.stdout


@pytest.mark.parametrize("args", [["search", "token"], ["fire", "--model", "tiny"]])
def test_a_lone_surrogate_is_one_line_not_a_unicode_traceback(cli_env, store, args):
    env = os.environ | cli_env
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *args, b"caf\xff".decode("utf-8", "surrogateescape")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not valid UTF-8 text" in lines[0], proc.stderr


def test_the_store_refuses_a_lone_surrogate_with_one_line(store):
    from n2g_kb.errors import ConfigError
    from n2g_kb.kb import query

    with pytest.raises(ConfigError, match="not valid Unicode"):
        query.fires_on(store, "caf\udcff")


def test_a_token_longer_than_an_index_key_is_stored_under_its_key_and_found(cli_env, store):
    long = "x" * 9000
    other = "x" * 8999 + "y"
    store.write_neurons("tiny", [_neuron(1, long), _neuron(2, other, context=long)])
    assert token_key(long) != token_key(other) and len(token_key(long).encode()) <= MAX_TOKEN_BYTES
    assert token_key(token_key(long)) == token_key(long) and normalise_token(long) == token_key(long)
    loaded = store.load_neuron("tiny", 0, 1)
    assert loaded.firing_tokens == {token_key(long): pytest.approx(0.9)}
    assert loaded.examples[0].tokens[1] == long  # the exact text stays in the examples
    from n2g_kb.kb import query

    assert list(query.fires_on(store, long)["neuron"]) == [1]
    assert list(query.fires_on(store, other)["neuron"]) == [2]


def test_show_out_to_an_unwritable_path_is_one_line(cli_env, store, tmp_path):
    store.write_neurons("tiny", [_neuron(0, "paris")])
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["show", "tiny", "0", "0", "--out", str(blocker / "g.dot")], env=cli_env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert _error_line(result) == f"Error: --out {blocker / 'g.dot'}: cannot write there ({blocker} is a file, not a directory); choose a path you can write"


def test_queries_export_to_an_unwritable_path_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["queries", "export", str(blocker / "q.zip")], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "cannot write there" in _error_line(result)


def test_evaluate_out_to_an_unwritable_dir_fails_before_storing_anything(cli_env, store, tmp_path):
    store.write_neurons("tiny", [_neuron(0, "paris")])
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["evaluate", "tiny", "--out", str(blocker / "report")], env=cli_env | {"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "cannot write there" in _error_line(result)
    assert "f1" not in store.load_neuron("tiny", 0, 0).metrics  # nothing was evaluated and stored
    ok = runner.invoke(app, ["evaluate", "tiny", "--out", str(tmp_path / "report")], env=cli_env)
    assert ok.exit_code == 0, ok.output
    assert "f1" in store.load_neuron("tiny", 0, 0).metrics


@pytest.mark.parametrize("command", [["db", "start"], ["db", "status"], ["ingest", "x", "--layers", "0"]])
def test_a_data_dir_that_is_a_file_is_one_line(tmp_path, command):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"NEO4J_URI": "", "N2GKB_DATA_DIR": str(blocker), "COLUMNS": "300"}
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 1, result.output
    assert _error_line(result) == (
        f"Error: N2GKB_DATA_DIR {blocker} cannot be used ({blocker} is a file, not a directory); "
        "set N2GKB_DATA_DIR to a directory you can write"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "--device 'tpu' is not a torch device; use cpu, cuda, cuda:N or mps"),
        (["--device", "meta"], "--device 'meta': n2g-kb runs on cpu, cuda or mps, not meta"),
        (["--device", "nonsense"], "--device 'nonsense' is not a torch device; use cpu, cuda, cuda:N or mps"),
        (["--batch-size", "0"], "--batch-size 0 is too small; use 1 or more windows per batch"),
        (["--neurons", "0-999999999"], "--neurons: neuron 64 is out of range"),
        (["--name", "x" * 300], "--name must be printable text of at most 200 characters"),
    ],
)
def test_bad_ingest_options_are_one_line_before_anything_is_stored(cli_env, store, tmp_path, args, message):
    from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

    model = build_tiny_gpt2(tmp_path / "tiny", corpus=synthetic_corpus(60), d_mlp=64) if "--neurons" in args else tmp_path
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(synthetic_corpus(60)), encoding="utf-8")
    env = cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"}
    result = runner.invoke(app, ["ingest", str(model), "--layers", "0", "--corpus", str(corpus), "--augmenter", "none", *args], env=env)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.output, result.output
    assert store.counts() == {"nodes": 0, "relationships": 0}


def test_docker_compose_publishes_neo4j_on_localhost_only():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = compose["services"]["neo4j"]["ports"]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert "all interfaces" in (ROOT / "docker-compose.yml").read_text()  # how to expose it


def test_a_bad_write_concurrency_stops_an_ingest_before_its_model_loads(cli_env, store, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("some text", encoding="utf-8")
    env = cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300", "N2GKB_WRITE_CONCURRENCY": "none"}
    # the model path does not exist: the setting is refused before anything tries to load it
    result = runner.invoke(app, ["ingest", str(tmp_path / "no-model"), "--layers", "0", "--corpus", str(corpus),
                                 "--augmenter", "none"], env=env)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "N2GKB_WRITE_CONCURRENCY='none'" in errors[0], result.output
    assert store.counts() == {"nodes": 0, "relationships": 0}
