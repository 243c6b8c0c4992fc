"""The Python helpers of n2g_kb.kb.query: DataFrames with stable columns, the same answers as
the Cypher files, token normalisation, fire-on-text, and clear errors for bad input."""

from __future__ import annotations

import random
import zipfile

import pandas as pd
import pytest

from n2g_kb.kb import cypher, query
from n2g_kb.errors import ConfigError, ModelError, NotFoundError
from n2g_kb.kb.fixtures import FIXTURE_MODEL, INJECTION, OTHER_MODEL, OTHER_TOKENIZER, fixture_tries
from n2g_kb.n2g.trie import IGNORE, Trie

M, B = FIXTURE_MODEL, OTHER_MODEL


def keys(frame: pd.DataFrame) -> set[tuple]:
    return {(r.model, int(r.layer), int(r.neuron)) for r in frame.itertuples()}


# --------------------------------------------------------------------------- shape


def test_every_helper_returns_its_documented_columns_even_without_rows(kb):
    frames = {
        "fires_on": query.fires_on(kb, "nothing-fires-on-this"),
        "context": query.in_context(kb, "paris", "nothing"),
        "context_loose": query.in_context(kb, "paris", "nothing", loose=True),
        "last_token": query.fires_on_last(kb, ["nothing"]),
        "fire": query.fire(kb, ["nothing"]),
        "similar": query.similar(kb, threshold=1.0, model=B),
        "supersets": query.supersets(kb, model=M, layer=2),
        "polysemantic": query.polysemantic(kb, min_groups=99),
        "repetition": query.repetition(kb, model=B),
        "top_neurons": query.top_neurons(kb, metric="baseline_token_f1"),
        "layer_summary": query.layer_summary(kb),
        "models": query.models(kb),
    }
    for name, frame in frames.items():
        assert list(frame.columns) == query.COLUMNS[name], name
    assert frames["fires_on"].empty and frames["fire"].empty
    assert frames["fires_on"]["layer"].dtype == "Int64"


def test_helpers_give_the_same_rows_as_their_cypher_files(kb):
    pairs = [
        (query.fires_on(kb, " Paris", model=M), "query/fires_on", {"token": "paris", "model": M, "layer": None, "limit": None}),
        (
            query.in_context(kb, " Paris", [" capital", " of"]),
            "query/context",
            {"token": "paris", "context": ["capital", "of"], "distance": None, "model": None, "layer": None, "limit": None},
        ),
        (query.similar(kb, model=M, threshold=0.3), "query/similar",
         {"model": M, "layer": None, "neuron": None, "threshold": 0.3, "cross_layer_only": False, "limit": 50}),
        (query.supersets(kb), "query/supersets",
         {"model": None, "layer": None, "neuron": None, "cross_layer_only": False, "limit": 50}),
        (query.polysemantic(kb), "query/polysemantic", {"model": None, "layer": None, "min_groups": 2, "limit": 50}),
        (query.repetition(kb), "query/repetition", {"model": None, "layer": None, "same_pattern": False, "limit": 50}),
        (query.top_neurons(kb), "query/top_neurons", {"metric": "f1", "model": None, "layer": None, "limit": 20}),
        (query.layer_summary(kb, model=M), "query/layer_summary", {"model": M}),
    ]
    for frame, name, params in pairs:
        rows = kb.read(name, **params)
        assert len(frame) == len(rows) > 0, name
        got = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        assert got == rows, name


# ---------------------------------------------------------------------- normalising


@pytest.mark.parametrize("typed", [" Paris", "Paris", "paris", " paris"])
def test_fires_on_normalises_the_token_as_typed(kb, typed):
    assert keys(query.fires_on(kb, typed, model=M, layer=1)) == {(M, 1, 5), (M, 1, 6), (M, 1, 7)}


def test_a_shouted_token_stays_distinct_from_its_lower_case(kb):
    assert query.fires_on(kb, " PARIS").empty


@pytest.mark.parametrize("raw", [" it's", "\\", " café", " Café", "Ġ", INJECTION])
def test_weird_raw_tokens_are_normalised_and_found_exactly(kb, raw):
    assert keys(query.fires_on(kb, raw)) == {(M, 2, 8)}


def test_in_context_is_path_aware_unlike_the_loose_search(kb):
    exact = query.in_context(kb, " Paris", " to")
    loose = query.in_context(kb, " Paris", " to", loose=True)
    assert keys(exact) == {(M, 1, 5)}
    assert keys(loose) == {(M, 0, 0), (M, 1, 5)}
    assert exact.iloc[0]["pattern"] == ["to", IGNORE, "paris"]
    assert int(exact.iloc[0]["distance"]) == 2
    assert query.in_context(kb, " Paris", " to", distance=1).empty
    assert keys(query.in_context(kb, " it's", "\n", distance=1)) == {(M, 2, 8)}
    assert keys(query.in_context(kb, " Paris", [" to", IGNORE])) == {(M, 1, 5)}


# ----------------------------------------------------------------------- firing on text


def test_fire_marks_every_position_where_a_stored_graph_fires(kb):
    tokens = ["Mr", " Smith", " said", " Smith", " in", " Paris"]
    frame = query.fire(kb, tokens, model=M)
    got = {(int(r.position), r.token, int(r.layer), int(r.neuron), r.activation) for r in frame.itertuples()}
    assert got == {
        (1, " Smith", 2, 3, 0.7),  # mr smith
        (3, " Smith", 2, 3, 0.9),  # smith ... smith
        (5, " Paris", 0, 0, 0.9),  # in paris
        (5, " Paris", 0, 2, 0.8),
        (5, " Paris", 0, 3, 0.7),
        (5, " Paris", 1, 6, 0.7),
        (5, " Paris", 1, 5, 0.6),
    }
    assert list(frame["position"]) == sorted(frame["position"])


def test_fire_agrees_with_the_last_token_query_at_every_position(kb):
    rng = random.Random(3)
    vocab = [" Paris", " London", " to", " in", " of", " capital", " a", " x", " fire", " Smith", "Mr", " the", " cat", " big"]
    for _ in range(8):
        tokens = [rng.choice(vocab) for _ in range(rng.randint(3, 8))]
        fired = query.fire(kb, tokens, min_activation=0.0)
        for position in range(len(tokens)):
            at = fired[fired["position"] == position]
            last = query.fires_on_last(kb, tokens[: position + 1], min_activation=0.0)
            assert {(r.model, r.layer, r.neuron): r.activation for r in at.itertuples()} == {
                (r.model, r.layer, r.neuron): r.activation for r in last.itertuples()
            }, tokens[: position + 1]


def test_both_fire_engines_give_the_same_predictions(kb):
    rng = random.Random(5)
    vocab = [" Paris", " London", " to", " in", " of", " capital", " a", " x", " fire", " Smith", "Mr", " the", " cat"]
    for _ in range(10):
        tokens = [rng.choice(vocab) for _ in range(rng.randint(1, 10))]
        in_cypher = query.fire(kb, tokens, min_activation=0.0)
        in_python = query.fire(kb, tokens, min_activation=0.0, engine="python")
        columns = ["position", "token", "model", "layer", "neuron", "activation"]
        assert in_cypher[columns].equals(in_python[columns]), tokens
        assert in_python["pattern"].isna().all()
    with pytest.raises(ConfigError, match="engine"):
        query.fire(kb, ["paris"], engine="gpu")


def test_fire_reports_the_winning_pattern_of_each_prediction(kb):
    frame = query.fire(kb, ["Mr", " Smith", " said", " Smith"], model=M)
    assert [(int(r.position), r.token, r.pattern) for r in frame.itertuples()] == [
        (1, " Smith", ["mr", "smith"]),
        (3, " Smith", ["smith", IGNORE, "smith"]),
    ]


def test_fire_honours_the_threshold_and_filters(kb):
    tokens = [" to", " big", " Paris"]
    assert keys(query.fire(kb, tokens, min_activation=0.9)) == {(M, 1, 5), (B, 0, 1)}
    assert keys(query.fire(kb, tokens, model=B)) == {(B, 0, 1), (B, 1, 0)}
    assert keys(query.fire(kb, tokens, model=M, layer=1)) == {(M, 1, 5), (M, 1, 6)}


# ------------------------------------------------------------------------ the others


def test_similar_and_supersets_helpers_answer_known_pairs(kb):
    near = query.similar(kb, model=M, layer=0, neuron=0, threshold=0.5)
    assert {(int(r.other_layer), int(r.other_neuron)) for r in near.itertuples()} == {(1, 5), (1, 6)}
    pairs = query.supersets(kb, model=M, cross_layer_only=True)
    assert (0, 2, 1, 6) in {
        (int(r.superset_layer), int(r.superset_neuron), int(r.subset_layer), int(r.subset_neuron)) for r in pairs.itertuples()
    }


def test_polysemantic_repetition_and_top_helpers_answer_known_neurons(kb):
    groups = query.polysemantic(kb, model=M, layer=0)
    assert {int(r.neuron): r.groups for r in groups.itertuples()} == {0: [["london"], ["paris"]], 2: [["berlin"], ["london"], ["paris"]]}
    rep = query.repetition(kb, same_pattern=True)
    assert [(int(r.neuron), r.token, int(r.distance)) for r in rep.itertuples()] == [(3, "smith", 2)]
    top = query.top_neurons(kb, metric="f1", limit=1)
    assert (top.iloc[0]["model"], int(top.iloc[0]["layer"]), int(top.iloc[0]["neuron"])) == (M, 1, 5)
    summary = query.layer_summary(kb, model=M)
    assert list(summary["neurons"]) == [3, 3, 6]


# ------------------------------------------------------------------------- one neuron


def test_load_graph_returns_the_stored_trie_and_its_patterns_in_text_order(kb):
    graph = query.load_graph(kb, M, 1, 7)
    assert graph.trie == fixture_tries()[(M, 1, 7)]
    assert graph.key == (M, 1, 7)
    assert sorted(graph.patterns()) == [(["capital", "of", "france"], 0.8), (["capital", "of", "paris"], 0.85)]
    assert graph.result.metrics["f1"] == 0.77
    assert query.load_trie(kb, M, 2, 9) == fixture_tries()[(M, 2, 9)]


def test_a_dead_neuron_loads_as_an_empty_trie(kb):
    assert query.load_graph(kb, M, 2, 10).trie.patterns() == []
    assert query.load_trie(kb, M, 2, 10) == Trie()


# ------------------------------------------------------------------------- bad input


def test_an_unknown_model_is_a_clear_not_found_error_naming_the_stored_models(kb):
    with pytest.raises(NotFoundError, match=r"No model 'gpt9'.*'fixture', 'fixture-b'"):
        query.fires_on(kb, "paris", model="gpt9")
    with pytest.raises(NotFoundError, match="No model 'gpt9'"):
        query.load_graph(kb, "gpt9", 0, 0)


def test_an_unknown_neuron_is_a_clear_not_found_error(kb):
    with pytest.raises(NotFoundError, match="No neuron fixture layer 1 #99"):
        query.load_graph(kb, M, 1, 99)
    with pytest.raises(NotFoundError, match="No neuron fixture layer 1 #99"):
        query.load_trie(kb, M, 1, 99)
    with pytest.raises(NotFoundError, match="No neuron fixture layer 0 #42"):
        query.similar(kb, model=M, layer=0, neuron=42)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda kb: query.fires_on(kb, ""), "empty"),
        (lambda kb: query.fires_on(kb, IGNORE), "wildcard"),
        (lambda kb: query.in_context(kb, "paris", []), "at least one context token"),
        (lambda kb: query.in_context(kb, "paris", "to", distance=0), "distance"),
        (lambda kb: query.in_context(kb, "paris", "to", distance=2, loose=True), "path-aware"),
        (lambda kb: query.fire(kb, "in Paris"), "list of tokens"),
        (lambda kb: query.fire(kb, []), "no tokens"),
        (lambda kb: query.fires_on_last(kb, ["paris"], min_activation=2.0), "min_activation"),
        (lambda kb: query.similar(kb, threshold=1.5), "threshold"),
        (lambda kb: query.similar(kb, limit=0), "limit"),
        (lambda kb: query.fires_on(kb, "paris", layer=-1), "layer"),
        (lambda kb: query.top_neurons(kb, metric="f1) DETACH DELETE n //"), "Unknown metric"),
    ],
)
def test_bad_arguments_raise_config_errors_that_say_what_is_wrong(kb, call, message):
    with pytest.raises(ConfigError, match=message):
        call(kb)


def test_known_metrics_include_baselines_of_any_name():
    for metric in ("f1", "nonfiring_recall", "baseline_token_f1", "baseline_trigram_nonfiring_precision", "n_trie_nodes"):
        assert query.check_metric(metric) == metric


# ------------------------------------------------------------------------- tokenising


@pytest.fixture(scope="module")
def tiny_tokenizer_dir(tmp_path_factory):
    from n2g_kb.testing import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny"), n_layers=1, d_model=16, d_mlp=32, n_heads=2, vocab_size=300)


def test_tokenize_returns_the_models_token_strings(tiny_tokenizer_dir):
    tokens = query.tokenize("Alice went to Paris.", query.load_tokenizer(str(tiny_tokenizer_dir)))
    assert "".join(tokens) == "Alice went to Paris."
    assert len(tokens) > 1 and all(isinstance(t, str) for t in tokens)


def test_a_tokenizer_that_cannot_be_loaded_is_a_model_error_with_a_way_out(tmp_path):
    with pytest.raises(ModelError, match="--tokenizer.*--tokens"):
        query.load_tokenizer(str(tmp_path / "no-tokenizer-here"))


def test_the_tokenizer_name_comes_from_the_model_node_or_its_name(kb):
    assert query.tokenizer_name(kb, M) == M
    assert query.tokenizer_name(kb, B) == OTHER_TOKENIZER


# ---------------------------------------------------------------------- the library


def test_the_browser_export_holds_every_query_unchanged(tmp_path):
    path = query.export_browser_favorites(tmp_path / "queries.zip")
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"n2g-kb/{n.removeprefix('query/')}.cypher" for n in query.query_names())
        assert archive.read("n2g-kb/fires_on.cypher").decode() == cypher.load("query/fires_on")
    with pytest.raises(ConfigError, match=".zip"):
        query.export_browser_favorites(tmp_path / "queries.json")


def test_query_parameters_lists_what_a_query_needs():
    assert query.query_parameters("query/fires_on") == ["model", "token", "layer", "limit"]
    assert query.query_title("query/fires_on") == "neurons that fire on a token"
