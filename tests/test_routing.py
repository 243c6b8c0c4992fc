"""`neo4j://` routing URIs (Neo4j clusters, Aura) work for every command. The test server
is a single instance, which answers routing requests with itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.kb.fixtures import FIXTURE_MODEL
from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

runner = CliRunner()


@pytest.fixture(scope="module")
def routing_env(neo4j_settings) -> dict[str, str]:
    if not neo4j_settings.uri.startswith("bolt://"):
        pytest.skip("needs the test server's bolt:// URI to derive a neo4j:// one")
    return {
        "NEO4J_URI": "neo4j://" + neo4j_settings.uri.removeprefix("bolt://"),
        "NEO4J_USER": neo4j_settings.user,
        "NEO4J_PASSWORD": neo4j_settings.password or "",
        "NEO4J_DATABASE": neo4j_settings.database,
        "COLUMNS": "200",
    }


def _ok(env, *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def test_the_read_commands_answer_over_a_routing_uri(routing_env, kb):
    status = _ok(routing_env, "db", "status")
    assert routing_env["NEO4J_URI"] in status and "Nodes:" in status
    assert "Schema ready" in _ok(routing_env, "db", "init")
    models = json.loads(_ok(routing_env, "search", "models", "--json"))
    assert FIXTURE_MODEL in {m["model"] for m in models}
    assert json.loads(_ok(routing_env, "search", "token", " Paris", "--model", FIXTURE_MODEL, "--json"))
    assert json.loads(_ok(routing_env, "show", FIXTURE_MODEL, "1", "7", "--json"))
    assert json.loads(_ok(routing_env, "similar", "--model", FIXTURE_MODEL, "--layer", "0", "--neuron", "0", "--json"))


def test_ingest_and_evaluate_write_over_a_routing_uri(routing_env, store, tmp_path: Path):
    model = build_tiny_gpt2(tmp_path / "tiny", corpus=synthetic_corpus(300), d_mlp=32)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(synthetic_corpus(150, seed=5)), encoding="utf-8")
    env = routing_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    _ok(env, "ingest", str(model), "--layers", "1", "--neurons", "0-2", "--examples", "4", "--corpus", str(corpus),
        "--context", "24", "--augmenter", "none", "--device", "cpu")  # fmt: skip
    assert sorted(store.neuron_status("tiny", 1)) == [0, 1, 2]
    _ok(env, "evaluate", "tiny", "--no-write")
