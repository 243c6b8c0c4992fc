"""Export / import: a knowledge base leaves as Parquet + JSONL and comes back giving the
same answers to every query, through the CLI and the Python API, into an emptied Neo4j."""

from __future__ import annotations

import json
import os
import socket

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.errors import ConfigError
from n2g_kb.kb import exchange, library
from n2g_kb.kb.fixtures import FIXTURE_MODEL, OTHER_MODEL, write_fixture
from n2g_kb.n2g.results import Example

runner = CliRunner()


def header_params(name: str) -> dict:
    return {key: library.parse_literal(expr) for key, expr in library.browser_params(name)}


def scrub(value):
    """Drops `updated_at` (the time a neuron was written) wherever a node's properties appear;
    rounds floats to 12 places (a mean over neurons sums them in storage order)."""
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k != "updated_at"}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def every_answer(store) -> dict:
    answers = {}
    for name in library.query_names():
        rows = store.read(name, **header_params(name))
        answers[name] = scrub(json.loads(json.dumps(rows, sort_keys=True, default=str)))
    for model, layer, neuron in [(FIXTURE_MODEL, 1, 7), (FIXTURE_MODEL, 2, 8), (OTHER_MODEL, 0, 1)]:
        record = store.read("read/neuron", model=model, layer=layer, index=neuron)[0]
        props = {k: v for k, v in record["neuron"].items() if k != "updated_at"}
        answers[(model, layer, neuron)] = scrub(json.loads(json.dumps([props, record["nodes"], record["examples"]], sort_keys=True, default=str)))
    answers["summary"] = [store.read("read/summary_edges", model=m) for m in (FIXTURE_MODEL, OTHER_MODEL)]
    return answers


def fill(store) -> None:
    results = write_fixture(store)
    store.start_run("run-1", FIXTURE_MODEL, layers=[1], config={"a": 1})
    chosen = [r for r in results if r.model == FIXTURE_MODEL and r.layer == 1]
    chosen[0].examples = [
        Example(["x", " Paris", "<|endoftext|>"], [0.1, 2.5, 0.0], "train"),
        Example([" café", "<0xE2><0x80>"], [1.0, -0.25], "test"),
    ]
    store.write_neurons(FIXTURE_MODEL, chosen, run_id="run-1")
    store.finish_run("run-1", "finished", seconds=1.5)


@pytest.mark.parametrize("formats", [["parquet"], ["jsonl"]])
def test_a_round_trip_gives_identical_answers(store, tmp_path, formats):
    fill(store)
    before = every_answer(store)
    summary = exchange.export(store, [FIXTURE_MODEL, OTHER_MODEL], tmp_path / "kb", formats)
    assert summary.counts["neurons"] == 14 and summary.counts["runs"] == 1 and summary.counts["examples"] == 2
    store.clear()
    store.init_schema()
    counts = exchange.import_folder(store, tmp_path / "kb")
    assert counts == {"models": 2, "runs": 1, "neurons": 14, "bulk": False}
    assert every_answer(store) == before
    produced = store.read("ingest/run", id="run-1")[0]
    assert produced["produced"] == 3 and produced["run"]["status"] == "finished"
    assert produced["run"]["config_json"] == '{"a": 1}'


def test_the_cli_exports_both_formats_and_imports_them(store, cli_env, tmp_path):
    fill(store)
    before = every_answer(store)
    out = tmp_path / "share"
    for model in (FIXTURE_MODEL, OTHER_MODEL):
        result = runner.invoke(app, ["export", model, str(out / model)], env=cli_env)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / FIXTURE_MODEL).iterdir()) == sorted(
        ["manifest.json", *(f"{t}.{f}" for t in exchange.TABLES for f in ("parquet", "jsonl"))]
    )
    first = json.loads((out / FIXTURE_MODEL / "neurons.jsonl").read_text().splitlines()[0])
    assert {"model", "layer", "neuron", "status", "metrics_json", "run_id"} <= set(first)
    store.clear()
    store.init_schema()
    for model in (FIXTURE_MODEL, OTHER_MODEL):
        result = runner.invoke(app, ["import", str(out / model)], env=cli_env)
        assert result.exit_code == 0, result.output
        assert "Imported" in result.stdout
    assert every_answer(store) == before


def test_bad_folders_are_one_line_errors(cli_env, tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path)], env=cli_env)
    assert result.exit_code == 1 and "not an n2g-kb export" in result.stderr
    result = runner.invoke(app, ["export", "no-such-model", str(tmp_path / "x")], env=cli_env)
    assert result.exit_code == 1 and "No model 'no-such-model'" in result.stderr
    with pytest.raises(ConfigError, match="Unknown export format"):
        exchange.export(None, [], tmp_path, ["csv"])


# ------------------------------------------------------ bulk import into an empty managed KB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(bool(os.environ.get("NEO4J_URI")) and not os.environ.get("N2GKB_TEST_BULK"),
                    reason="the bulk import needs a managed Neo4j (set N2GKB_TEST_BULK=1 to run anyway)")
def test_an_import_into_an_empty_managed_kb_is_a_bulk_build_with_the_same_answers(store, tmp_path):
    from n2g_kb.kb.db import connect
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.kb.store import Store
    from n2g_kb.settings import LocalServerSettings, cache_dir

    fill(store)
    before = every_answer(store)
    exchange.export(store, [FIXTURE_MODEL, OTHER_MODEL], tmp_path / "kb", ["parquet"])

    server = LocalNeo4j(LocalServerSettings(cache_dir=cache_dir(), data_dir=tmp_path / "home", bolt_port=_free_port(),
                                            http_port=_free_port(), heap="512m", pagecache="128m"))  # fmt: skip
    server.start()
    try:
        target = Store(connect(server.connection("neo4j"), retry_s=60.0), "neo4j", settings=server.connection("neo4j"))
        target.init_schema()
        statuses: list[str] = []
        counts = exchange.import_folder(target, tmp_path / "kb", bulk=server, on_status=statuses.append)
        assert counts["bulk"] and (counts["models"], counts["runs"], counts["neurons"]) == (2, 1, 14)
        assert any("neo4j-admin" in s for s in statuses)
        assert every_answer(target) == before
        # the knowledge base holds data now: the same import goes over Bolt and replaces each neuron
        again = exchange.import_folder(target, tmp_path / "kb", bulk=server)
        assert not again["bulk"] and again["neurons"] == 14
        assert every_answer(target) == before
        target.driver.close()
    finally:
        server.stop()
