"""What a researcher opens first, through the CLI and the Python API: a neuron's examples,
its notebook view, readable tokens, `--layers` ranges, `-h`, `queries run`, the Browser
style sheet and errors that suggest only steps that can work."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.errors import NotFoundError
from n2g_kb.kb import query
from n2g_kb.kb.fixtures import FIXTURE_MODEL, result_from_patterns, P
from n2g_kb.n2g.results import Example
from n2g_kb.views.examples import document_span, example_records, key_position

runner = CliRunner()
MODEL = "views-model"
EOT = "<|endoftext|>"


def examples() -> list[Example]:
    return [
        Example(["The", " capital", " of", " France", " is", " Paris", "."], [0.0, 0.1, 0.0, 0.2, 0.0, 2.0, 0.3], "train"),
        Example(["old", " text", EOT, "In", " Paris", " today"], [0.9, 0.0, 0.0, 0.0, 1.5, 0.1], "train"),
        Example([" Paris", " Hilton", EOT, "new"], [1.2, 0.0, 0.0, 0.0], "test"),
    ]


@pytest.fixture(scope="module")
def views_kb(kb, tmp_path_factory):
    """The fixture KB plus one model whose tokenizer is a real (tiny) directory and whose
    neuron 0/3 has stored examples."""
    from n2g_kb.testing import _train_bpe_tokenizer, synthetic_corpus

    directory = tmp_path_factory.mktemp("tokenizer")
    _train_bpe_tokenizer(synthetic_corpus(seed=0), 300).save_pretrained(str(directory))
    result = result_from_patterns(MODEL, 0, 3, [P("capital", "of", W_ := "<IGNORE>", "paris", activation=0.9), P("paris", activation=0.7)])
    result.examples = examples()
    result.max_activation = 2.0
    result.metrics = {"f1": 0.8, "baseline_token_f1": 0.5, "baseline_ngram_f1": 0.6}
    kb.upsert_model(MODEL, n_layers=2, d_mlp=8, source=str(directory))
    kb.write_neurons(MODEL, [result])
    return kb


def invoke(env, *args: str):
    return runner.invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def env(neo4j_settings, views_kb) -> dict[str, str]:
    return {
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_USER": neo4j_settings.user,
        "NEO4J_PASSWORD": neo4j_settings.password or "",
        "NEO4J_DATABASE": neo4j_settings.database,
        "COLUMNS": "200",
    }


# ------------------------------------------------------------------------- examples


def test_key_token_and_document_span_respect_boundaries():
    rows = example_records(examples())
    assert [(r["split"], r["idx"]) for r in rows] == [("train", 0), ("train", 1), ("test", 0)]
    assert [r["key_token"] for r in rows] == [" Paris", " Paris", " Paris"]
    assert key_position(examples()[1]) == 4
    assert document_span(examples()[1].tokens, 4) == (3, 6)  # "old text" is another document
    assert rows[1]["text"] == "In Paris today"
    assert rows[2]["text"] == " Paris Hilton"


def test_query_examples_returns_a_dataframe(views_kb):
    frame = query.examples(views_kb, MODEL, 0, 3)
    assert list(frame["split"]) == ["train", "train", "test"]
    assert list(frame["key_activation"]) == [2.0, 1.5, 1.2]
    assert frame.loc[1, "tokens"] == examples()[1].tokens
    test = query.examples(views_kb, MODEL, 0, 3, split="test")
    assert list(test["text"]) == [" Paris Hilton"]
    with pytest.raises(NotFoundError, match="stored in layer 0: 3"):
        query.examples(views_kb, MODEL, 0, 5)


def test_show_examples_prints_train_and_test_with_the_key_marked(env):
    result = invoke(env, "show", MODEL, "0", "3", "--examples")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("train examples") < out.index("test examples")
    assert "The capital of France is⟦␣Paris⟧." in out
    assert "¶ In⟦␣Paris⟧ today" in out  # the other document is cut, and the cut marked
    assert "old text" not in out
    assert "⟦␣Paris⟧ Hilton ¶" in out
    payload = json.loads(invoke(env, "show", MODEL, "0", "3", "--examples", "--json").stdout)
    assert [e["key_position"] for e in payload["examples"]] == [5, 4, 0]


def test_show_examples_colours_activations_on_a_terminal(views_kb):
    from rich.console import Console

    from cli import search

    graph = query.load_graph(views_kb, MODEL, 0, 3)
    console = Console(record=True, force_terminal=True, color_system="truecolor", width=200)
    saved, search.console = search.console, console
    try:
        search._print_examples(graph)
    finally:
        search.console = saved
    html = console.export_html(inline_styles=True)
    assert "background-color: #ff0000" in html  # the key token at the max activation: full red


def test_the_neuron_object_has_a_notebook_view(views_kb):
    graph = query.load_graph(views_kb, MODEL, 0, 3)
    page = graph._repr_html_()
    assert f"{MODEL} layer 0 neuron 3" in page
    assert 'class="tok key"' in page and "title=\"2.000\"" in page
    assert re.search(r"<th>F1</th><td>0\.800</td><td>0\.500</td><td>0\.600</td>", page)
    if shutil.which("dot"):
        assert "<svg" in page and "legend" in page
    else:
        assert "capital of … paris" in page


# -------------------------------------------------------------------- tokens, layers


def test_a_string_that_is_several_tokens_gets_a_warning(env):
    result = invoke(env, "search", "token", " Hettingerzq", "--model", MODEL)
    assert result.exit_code == 0, result.output
    assert "is not one token" in result.stderr
    assert "No stored neuron fires" in result.stderr


def test_byte_pieces_are_spelled_in_hex(tmp_path):
    from n2g_kb.lm.tokens import token_strings
    from n2g_kb.testing import _train_bpe_tokenizer

    tokenizer = _train_bpe_tokenizer(["plain ascii text only"] * 20, 280)
    ids = tokenizer("漢", add_special_tokens=False)["input_ids"]
    pieces = token_strings(tokenizer, ids)
    assert "".join(pieces) == "<0xE6><0xBC><0xA2>"
    assert all("\ufffd" not in p for p in pieces)
    assert token_strings(tokenizer, tokenizer(" text", add_special_tokens=False)["input_ids"]) == [" text"]


def test_layers_take_ranges_and_merge_in_the_querys_order(env, kb):
    got = json.loads(invoke(env, "search", "token", " Paris", "--model", FIXTURE_MODEL, "--layers", "0-1", "--json").stdout)
    expected = query.fires_on(kb, " Paris", model=FIXTURE_MODEL)
    assert [(r["layer"], r["neuron"]) for r in got] == list(zip(expected["layer"], expected["neuron"]))
    one = json.loads(invoke(env, "search", "token", " Paris", "--model", FIXTURE_MODEL, "--layer", "1", "--json").stdout)
    assert {r["layer"] for r in one} == {1}
    top = json.loads(invoke(env, "search", "top", "--layers", "0,1", "--model", FIXTURE_MODEL, "--limit", "2", "--json").stdout)
    best = query.top_neurons(kb, model=FIXTURE_MODEL, limit=50)
    best = best[best["layer"].isin([0, 1])].head(2)
    assert [(r["layer"], r["neuron"]) for r in top] == list(zip(best["layer"], best["neuron"]))
    bad = invoke(env, "search", "token", " Paris", "--layers", "2-1")
    assert bad.exit_code == 1 and "range end 1 is before start 2" in bad.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["search"], ["search", "token"], ["show"], ["queries", "run"], ["db"], ["ingest"], ["evaluate"], ["version"]],
    ids=lambda c: " ".join(c) or "n2gkb",
)
def test_dash_h_is_help_everywhere(command):
    result = runner.invoke(app, [*command, "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_a_missing_neuron_suggests_only_valid_next_steps(env, views_kb):
    out_of_range = invoke(env, "show", MODEL, "0", "999")
    assert out_of_range.exit_code == 1
    assert "has 8 neurons per layer (0-7)" in out_of_range.stderr and "stored in layer 0: 3" in out_of_range.stderr
    assert "--neurons 999" not in out_of_range.stderr
    missing = invoke(env, "show", MODEL, "0", "5")
    source = views_kb.read("query/models")
    recorded = next(r for r in source if r["model"] == MODEL)["properties"]["source"]
    assert f"n2gkb ingest {recorded} --name {MODEL} --layers 0 --neurons 5" in missing.stderr.replace("\n", "")
    bad_layer = invoke(env, "show", MODEL, "7", "0")
    assert "has 2 layers (0-1)" in bad_layer.stderr


# --------------------------------------------------------------------- queries run


def test_queries_run_takes_params_and_uses_header_defaults(env, kb):
    got = json.loads(invoke(env, "queries", "run", "fires_on", "--param", "token=paris", "--param", "layer=1", "--json").stdout)
    assert {(r["model"], r["layer"], r["neuron"]) for r in got} == {(FIXTURE_MODEL, 1, 5), (FIXTURE_MODEL, 1, 6), (FIXTURE_MODEL, 1, 7), ("fixture-b", 1, 0)}
    limited = invoke(env, "queries", "run", "top_neurons", "-p", "metric=f1", "-p", "limit=2", "--json")
    assert limited.exit_code == 0, limited.output
    assert len(json.loads(limited.stdout)) == 2 and "From the header" in limited.stderr
    context = json.loads(invoke(env, "queries", "run", "context", "-p", 'context=["to"]', "-p", "token='paris'", "--json").stdout)
    assert [(r["layer"], r["neuron"]) for r in context] == [(1, 5)]
    missing = invoke(env, "queries", "run", "fires_on")
    assert missing.exit_code == 1 and "needs --param token" in missing.stderr
    unknown = invoke(env, "queries", "run", "fires_on", "-p", "token=paris", "-p", "colour=red")
    assert unknown.exit_code == 1 and "takes no parameter colour" in unknown.stderr
    assert invoke(env, "queries", "run", "nope").exit_code == 1


def test_the_browser_style_sheet_captions_tokens_and_neurons(tmp_path):
    text = runner.invoke(app, ["queries", "style"]).stdout
    assert re.search(r"node\.TrieNode \{[^}]*caption: \"\{token\}\"", text)
    assert re.search(r"node\.Neuron \{[^}]*caption: \"L\{layer\}/\{index\}\"", text)
    path = tmp_path / "n2g-kb.grass"
    assert runner.invoke(app, ["queries", "style", str(path)]).exit_code == 0
    assert path.read_text() == text


# ------------------------------------------------------------------- ingest progress


def test_ingest_progress_counts_the_whole_run_and_moves_inside_a_chunk():
    from cli.ingest import _RunProgress

    run = _RunProgress(chunk_size=4)
    run.total, run.skipped = 20, 2  # two layers of 10, two neurons already stored
    assert run.layer(0, 2, 10) == 2 and run.run_done() == 2
    assert run.step(0, "prune", 5, 10) == pytest.approx(2 + 4 * 0.5 / 5)
    assert run.step(0, "trie", 2, 2) == pytest.approx(2 + 4)
    assert run.step(0, "neurons", 4, 4) == pytest.approx(6)  # the chunk is extracted
    assert run.run_done() == pytest.approx(6)
    run.step(0, "prune", 0, 10)
    run.step(0, "neurons", 4, 4)
    assert run.layer(1, 0, 10) == 0  # layer 1 starts while layer 0's chunks are still being written
    run.step(1, "saliency", 0, 8)
    assert run.run_done() == pytest.approx(2 + 8 + 4 * 1 / 5)
    assert run.layer(0, 6, 10) == pytest.approx(10 + 4 * 1 / 5)  # written count lags: never shown below extraction


def test_ingest_log_progress_prints_a_run_eta():
    from cli import ingest
    from n2g_kb.runners.ingest import ProgressEvent

    lines = []
    display = ingest._LogDisplay(every=0.0, chunk_size=2)
    saved = ingest.err_console.print
    ingest.err_console.print = lambda text, **_: lines.append(text)
    try:
        display(ProgressEvent("resume", 0, 4, None, ""))
        display(ProgressEvent("layer", 0, 4, 0, ""))
        display(ProgressEvent("step", 1, 2, 0, "prune"))
        display(ProgressEvent("step", 2, 2, 0, "neurons"))
        display(ProgressEvent("layer", 2, 4, 0, ""))
    finally:
        ingest.err_console.print = saved
    assert any(line.startswith("All chosen neurons: 2/4 (eta") for line in lines), lines


def test_every_param_block_of_the_browser_guide_sets_all_of_some_querys_parameters():
    from pathlib import Path

    from n2g_kb.kb import library

    text = (Path(__file__).resolve().parents[1] / "docs" / "browser.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n((?::param [^\n]+\n)+)```", text)
    assert len(blocks) >= 10
    wanted = [set(library.query_parameters(name)) for name in library.query_names()]
    for block in blocks:
        given = set(re.findall(r":param (\w+) =>", block))
        assert given in wanted, f"docs/browser.md sets {sorted(given)}, which is no query's full parameter set"
