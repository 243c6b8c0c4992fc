"""The search commands through the real CLI: same answers as the helpers, tables for
people, --json / --csv for scripts, one-line errors with exit code 1."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.kb import query
from n2g_kb.kb.fixtures import FIXTURE_MODEL, INJECTION, OTHER_MODEL

M, B = FIXTURE_MODEL, OTHER_MODEL
runner = CliRunner()


@pytest.fixture(scope="module")
def env(neo4j_settings, kb) -> dict[str, str]:
    return {
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_USER": neo4j_settings.user,
        "NEO4J_PASSWORD": neo4j_settings.password or "",
        "NEO4J_DATABASE": neo4j_settings.database,
    }


def invoke(env, *args: str):
    return runner.invoke(app, list(args), env=env)


def as_json(env, *args: str) -> list[dict]:
    result = invoke(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def records(frame) -> list[dict]:
    """A helper's DataFrame as the JSON records the CLI prints."""
    from cli.search import _records

    return json.loads(json.dumps(_records(frame), ensure_ascii=False))


# ------------------------------------------------------------------------- the surface

COMMANDS = [
    ["search"],
    ["search", "token"],
    ["search", "context"],
    ["search", "last"],
    ["search", "supersets"],
    ["search", "polysemantic"],
    ["search", "repetition"],
    ["search", "top"],
    ["search", "layers"],
    ["search", "models"],
    ["fire"],
    ["similar"],
    ["show"],
    ["queries"],
    ["queries", "list"],
    ["queries", "show"],
    ["queries", "export"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_search_command_has_help_text(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.split("Usage:")[1].strip()) > 40


# ------------------------------------------------------------------------ same answers


def test_search_token_prints_the_helpers_answer_as_json(env, kb):
    got = as_json(env, "search", "token", " Paris", "--model", M, "--layer", "1")
    assert got == records(query.fires_on(kb, " Paris", model=M, layer=1))
    assert {(r["layer"], r["neuron"]) for r in got} == {(1, 5), (1, 6), (1, 7)}


def test_search_token_prints_a_table_and_csv(env):
    table = invoke(env, "search", "token", " Paris", "--model", B)
    assert table.exit_code == 0, table.output
    assert "fixture-b" in table.stdout and "paris" in table.stdout and "2 rows" in table.stdout
    rows = list(csv.DictReader(io.StringIO(invoke(env, "search", "token", " Paris", "--model", B, "--csv").stdout)))
    assert [(r["layer"], r["neuron"], r["activation"]) for r in rows] == [("0", "1", "0.9"), ("1", "0", "0.8")]
    assert list(rows[0]) == query.COLUMNS["fires_on"]


def test_search_context_is_path_aware_and_loose_on_request(env, kb):
    exact = as_json(env, "search", "context", " Paris", " to")
    loose = as_json(env, "search", "context", " Paris", " to", "--loose")
    assert exact == records(query.in_context(kb, " Paris", " to"))
    assert [(r["layer"], r["neuron"], r["distance"], r["pattern"]) for r in exact] == [(1, 5, 2, ["to", "<IGNORE>", "paris"])]
    assert {(r["layer"], r["neuron"]) for r in loose} == {(0, 0), (1, 5)}
    sequence = as_json(env, "search", "context", " Paris", " capital", " of", "--distance", "1")
    assert [(r["layer"], r["neuron"]) for r in sequence] == [(1, 7)]


def test_fire_with_given_tokens_matches_the_helper(env, kb):
    tokens = ["Mr", " Smith", " said", " Smith", " in", " Paris"]
    got = as_json(env, "fire", json.dumps(tokens), "--tokens", "--model", M)
    assert got == records(query.fire(kb, tokens, model=M))
    assert {(r["position"], r["layer"], r["neuron"]) for r in got if r["position"] < 5} == {(1, 2, 3), (3, 2, 3)}
    in_python = as_json(env, "fire", json.dumps(tokens), "--tokens", "--model", M, "--engine", "python")
    assert [{k: v for k, v in r.items() if k != "pattern"} for r in in_python] == [
        {k: v for k, v in r.items() if k != "pattern"} for r in got
    ]


def test_fire_tokenises_text_with_the_models_tokenizer(env, kb, tmp_path_factory):
    from n2g_kb.testing import build_tiny_gpt2

    directory = build_tiny_gpt2(tmp_path_factory.mktemp("tok"), n_layers=1, d_model=16, d_mlp=32, n_heads=2, vocab_size=300)
    text = "Mr. Smith went to Paris."
    tokens = query.tokenize(text, query.load_tokenizer(str(directory)))
    got = as_json(env, "fire", text, "--model", M, "--tokenizer", str(directory), "--min-activation", "0")
    assert got == records(query.fire(kb, tokens, model=M, min_activation=0.0))
    last = as_json(env, "search", "last", text, "--model", M, "--tokenizer", str(directory), "--min-activation", "0")
    assert last == records(query.fires_on_last(kb, tokens, model=M, min_activation=0.0))


def test_similar_matches_the_helper(env, kb):
    got = as_json(env, "similar", "--model", M, "--layer", "0", "--neuron", "0", "--threshold", "0.5")
    assert got == records(query.similar(kb, model=M, layer=0, neuron=0, threshold=0.5))
    assert {(r["other_layer"], r["other_neuron"]) for r in got} == {(1, 5), (1, 6)}


@pytest.mark.parametrize(
    ("args", "helper"),
    [
        (["search", "supersets", "--model", M, "--cross-layer"], lambda kb: query.supersets(kb, model=M, cross_layer_only=True)),
        (["search", "polysemantic", "--min-groups", "3"], lambda kb: query.polysemantic(kb, min_groups=3)),
        (["search", "repetition", "--same-pattern"], lambda kb: query.repetition(kb, same_pattern=True)),
        (["search", "top", "--metric", "precision", "--limit", "3"], lambda kb: query.top_neurons(kb, metric="precision", limit=3)),
        (["search", "layers", "--model", M], lambda kb: query.layer_summary(kb, model=M)),
        (["search", "models"], lambda kb: query.models(kb)),
        (["search", "units", "--kind", "neuron"], lambda kb: query.units(kb, kind="neuron")),
        (["search", "last", '["to", " big", " Paris"]', "--tokens"], lambda kb: query.fires_on_last(kb, ["to", " big", " Paris"])),
    ],
    ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else "",
)
def test_other_search_commands_match_their_helpers(env, kb, args, helper):
    got = as_json(env, *args)
    assert got == records(helper(kb))
    assert got  # every case has known rows


def test_weird_tokens_reach_the_database_exactly_through_the_cli(env):
    for raw in [" café", "\\", INJECTION]:
        got = as_json(env, "search", "token", raw)
        assert [(r["model"], r["layer"], r["neuron"]) for r in got] == [(M, 2, 8)]
    got = as_json(env, "search", "context", " it's", "\n")
    assert [(r["layer"], r["neuron"], r["distance"]) for r in got] == [(2, 8, 1)]


# ---------------------------------------------------------------------------------- show


def test_show_prints_a_summary_and_the_patterns(env):
    result = invoke(env, "show", M, "1", "7")
    assert result.exit_code == 0, result.output
    assert "fixture  layer 1  neuron 7  status ok" in result.stdout
    assert "capital of paris   → 0.85" in result.stdout
    assert "capital of france  → 0.80" in result.stdout
    assert "f1 0.770" in result.stdout


def test_show_as_json_lists_patterns_in_text_order(env):
    got = json.loads(invoke(env, "show", M, "2", "9", "--json").stdout)
    assert got["metrics"]["f1"] == 0.7
    assert sorted((p["pattern"], p["activation"]) for p in got["patterns"]) == [
        (["a", "<IGNORE>", "fire"], 0.9),
        (["a", "x", "fire"], 0.6),
        (["x", "fire"], 0.55),
    ]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_show_draws_the_graph_as_svg_and_png(env, tmp_path):
    svg = tmp_path / "n.svg"
    png = tmp_path / "n.png"
    assert invoke(env, "show", M, "1", "5", "--out", str(svg)).exit_code == 0
    assert invoke(env, "show", M, "1", "5", "--out", str(png), "--hide-ignores").exit_code == 0
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg")) and "paris" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_writes_dot_source_without_graphviz(env, tmp_path):
    path = tmp_path / "n.dot"
    assert invoke(env, "show", M, "1", "5", "--out", str(path)).exit_code == 0
    assert path.read_text().startswith("digraph")


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "gpt9", "0", "0"], "No model 'gpt9'"),
        (["show", M, "1", "99"], "No neuron fixture layer 1 #99"),
        (["search", "token", "paris", "--model", "gpt9"], "No model 'gpt9'"),
        (["similar", "--model", M, "--layer", "0", "--neuron", "42"], "No neuron fixture layer 0 #42"),
        (["search", "top", "--metric", "bogus"], "Unknown metric 'bogus'"),
        (["search", "token", " Paris", "--json", "--csv"], "Choose one of --json and --csv"),
        (["fire", "in Paris", "--model", M, "--tokenizer", "/nonexistent/tokenizer"], "Cannot load the tokenizer"),
        (["fire", "in Paris"], "Pass --model"),
        (["fire", "not json", "--tokens"], "JSON list"),
        (["show", M, "1", "5", "--out", "graph.txt"], ".svg, .png"),
    ],
)
def test_bad_input_is_a_one_line_error_with_exit_code_1(env, args, message):
    result = invoke(env, *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_no_results_is_said_not_an_error(env):
    result = invoke(env, "search", "token", "zebra")
    assert result.exit_code == 0
    assert "No stored neuron fires on that token." in result.stderr


# ------------------------------------------------------------------------------- queries


def test_queries_list_show_and_export(tmp_path):
    listing = runner.invoke(app, ["queries", "list"])
    assert listing.exit_code == 0 and "fires_on" in listing.stdout and "$token" in listing.stdout
    shown = runner.invoke(app, ["queries", "show", "context"])
    assert shown.exit_code == 0 and shown.stdout.startswith("// n2g-kb: neurons that fire on a token in a given context")
    missing = runner.invoke(app, ["queries", "show", "nope"])
    assert missing.exit_code == 1 and "No query named 'nope'" in missing.stderr
    path = tmp_path / "q.zip"
    exported = runner.invoke(app, ["queries", "export", str(path)])
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(path) as archive:
        assert len(archive.namelist()) == len(query.query_names())
