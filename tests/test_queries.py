"""Every query of cypher/query/ against a real Neo4j holding the fixture knowledge base.

Answers are checked two ways: facts stated by hand about the fixture neurons, and
pure-Python oracles computed from the same tries (Trie.predict, set arithmetic), so the
Cypher must agree with N2G's own semantics, not only with itself.
"""

from __future__ import annotations

import random

import pytest

from n2g_kb.kb import cypher, library
from n2g_kb.kb.fixtures import FIXTURE_MODEL, FIXTURE_NEURONS, INJECTION, OTHER_MODEL, fixture_results, fixture_tries
from n2g_kb.kb.query import fire_rows, query_names, query_parameters
from n2g_kb.n2g.trie import IGNORE, Trie

M, B = FIXTURE_MODEL, OTHER_MODEL
ALL = {"model": None, "layer": None}
EVERY = {**ALL, "limit": None}  # for the queries that take a $limit (null: every row)

COVERED = {
    "query/fires_on",
    "query/context",
    "query/context_loose",
    "query/last_token",
    "query/fire",
    "query/fire_candidates",
    "query/similar",
    "query/supersets",
    "query/polysemantic",
    "query/repetition",
    "query/top_neurons",
    "query/layer_summary",
    "query/models",
    "query/neuron_graph",
    "query/units",
}


def keys(rows, *fields: str) -> set[tuple]:
    def hashable(value):
        return tuple(value) if isinstance(value, list) else value

    return {tuple(hashable(row[f]) for f in ("model", "layer", "neuron", *fields)) for row in rows}


# ------------------------------------------------------------------------- the library


def test_every_query_file_is_exercised_by_these_tests():
    assert set(query_names()) == COVERED


@pytest.mark.parametrize("name", sorted(COVERED))
def test_every_query_header_names_its_parameters_and_how_to_run_it_in_browser(name):
    header = cypher.header(name)
    assert header.splitlines()[0].startswith("n2g-kb: ")
    parameters_block = header.split("Parameters:")[1].split("Returns")[0]
    for parameter in query_parameters(name):
        assert f"${parameter}" in parameters_block, f"{name} does not document ${parameter}"
    assert "Neo4j Browser:" in header
    assert {key for key, _ in library.browser_params(name)} == set(query_parameters(name)), (
        f"{name}: the header's :param lines must set exactly the query's parameters"
    )
    assert ":params {" not in header, "Browser turns every number of a :params map into a float"
    if {"token", "tokens", "context"} & set(query_parameters(name)):
        assert "normalised" in header


def browser_params(store, name: str) -> dict:
    """The header's `:param k => expr` lines evaluated as Neo4j Browser does: each
    right-hand side is run as `RETURN expr` on the server, so integers stay integers."""
    values = {}
    for key, expr in library.browser_params(name):
        records, _, _ = store.driver.execute_query(f"RETURN {expr} AS value", database_=store.database)
        values[key] = records[0]["value"]
    return values


@pytest.mark.parametrize("name", sorted(COVERED))
def test_the_browser_params_line_of_every_query_runs_and_finds_fixture_rows(kb, name):
    params = browser_params(kb, name)
    assert set(params) == set(query_parameters(name))
    for key in ("limit", "layer", "neuron", "min_groups", "distance"):
        if params.get(key) is not None:
            assert type(params[key]) is int, f"{name}: ${key} must reach Neo4j as an integer"
    assert params == {key: library.parse_literal(expr) for key, expr in library.browser_params(name)}
    assert len(kb.read(name, **params)) > 0


# ------------------------------------------------------------------------------ fires_on


def test_fires_on_finds_every_neuron_with_the_firing_token_strongest_first(kb):
    rows = kb.read("query/fires_on", token="paris", **EVERY)
    assert keys(rows, "activation") == {
        (M, 1, 5, 0.95), (M, 0, 0, 0.9), (B, 0, 1, 0.9), (M, 1, 7, 0.85),
        (M, 0, 2, 0.8), (B, 1, 0, 0.8), (M, 0, 3, 0.7), (M, 1, 6, 0.7),
    }
    activations = [row["activation"] for row in rows]
    assert activations == sorted(activations, reverse=True)


def test_fires_on_filters_by_model_and_layer(kb):
    assert keys(kb.read("query/fires_on", token="paris", model=B, layer=None, limit=None)) == {(B, 0, 1), (B, 1, 0)}
    assert keys(kb.read("query/fires_on", token="paris", model=M, layer=1, limit=None)) == {(M, 1, 5), (M, 1, 6), (M, 1, 7)}


def test_fires_on_does_not_count_context_tokens(kb):
    assert kb.read("query/fires_on", token="to", **EVERY) == []


# ------------------------------------------------------------------------------- context


def context(kb, token, ctx, distance=None, **filters):
    return kb.read("query/context", token=token, context=ctx, distance=distance, **{**EVERY, **filters})


def test_path_aware_context_ignores_a_context_token_of_another_pattern_that_token_sets_match(kb):
    # L0/0 fires on paris ("in paris") and has 'to' only in its london pattern ("to london").
    loose = kb.read("query/context_loose", token="paris", context=["to"], **ALL)
    assert keys(loose) == {(M, 0, 0), (M, 1, 5)}
    exact = context(kb, "paris", ["to"])
    assert keys(exact, "distance", "end_activation", "pattern") == {(M, 1, 5, 2, 0.95, ("to", IGNORE, "paris"))}


def test_context_distance_pins_where_the_context_token_sits(kb):
    assert keys(context(kb, "paris", ["to"], distance=2)) == {(M, 1, 5)}
    assert context(kb, "paris", ["to"], distance=1) == []
    assert keys(context(kb, "paris", ["in"], distance=1)) == {(M, 0, 0)}


def test_context_sequence_must_appear_in_text_order_and_consecutively(kb):
    rows = context(kb, "paris", ["capital", "of"])
    assert keys(rows, "distance", "pattern") == {(M, 1, 7, 1, ("capital", "of", "paris"))}
    assert context(kb, "paris", ["of", "capital"]) == []
    assert keys(context(kb, "france", ["capital"], distance=2)) == {(M, 1, 7)}
    assert keys(context(kb, "paris", ["to", IGNORE])) == {(M, 1, 5)}


def test_context_requires_the_pattern_to_complete(kb):
    # L0/3 stores 'near' before 'paris' on a path that ends no pattern.
    assert context(kb, "paris", ["near"]) == []
    assert keys(kb.read("query/context_loose", token="paris", context=["near"], **ALL)) == {(M, 0, 3)}


def test_context_loose_requires_every_context_token(kb):
    assert keys(kb.read("query/context_loose", token="paris", context=["capital", "of"], **ALL)) == {(M, 1, 7)}
    assert kb.read("query/context_loose", token="paris", context=["capital", "to"], **ALL) == []


# ---------------------------------------------------------------------------- last token

TEXT_VOCAB = ["paris", "london", "to", "in", "of", "capital", "a", "x", "fire", "smith", "mr", "the", "cat", "near", "big"]


def oracle_last(tokens: list[str]) -> dict[tuple, float]:
    out = {}
    for key, trie in fixture_tries().items():
        value = trie.predict(tokens)[-1]
        if value > 0:
            out[key] = value
    return out


def last(kb, tokens, minimum=0.0, **filters):
    return kb.read("query/last_token", tokens=tokens, min_activation=minimum, **{**EVERY, **filters})


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["a", "x", "fire"], {(M, 2, 9): 0.6}),  # exact path beats the equally long wildcard path
        (["a", "y", "fire"], {(M, 2, 9): 0.9}),
        (["x", "fire"], {(M, 2, 9): 0.55}),
        (["fire"], {}),
        (["to", "big", "paris"], {(M, 1, 5): 0.95, (M, 0, 2): 0.8, (M, 0, 3): 0.7, (M, 1, 6): 0.7, (B, 0, 1): 0.9, (B, 1, 0): 0.8}),
        (["big", "paris"], {(M, 1, 5): 0.6, (M, 0, 2): 0.8, (M, 0, 3): 0.7, (M, 1, 6): 0.7, (B, 0, 1): 0.9, (B, 1, 0): 0.8}),
        (["smith", "said", "smith"], {(M, 2, 3): 0.9}),
        (["mr", "smith"], {(M, 2, 3): 0.7}),
        (["capital", "of", "france"], {(M, 1, 7): 0.8}),
    ],
)
def test_last_token_gives_known_predictions(kb, tokens, expected):
    rows = last(kb, tokens)
    assert {(r["model"], r["layer"], r["neuron"]): r["activation"] for r in rows} == expected
    assert oracle_last(tokens) == expected


def test_last_token_agrees_with_trie_predict_on_random_texts(kb):
    rng = random.Random(7)
    for _ in range(120):
        tokens = [rng.choice(TEXT_VOCAB) for _ in range(rng.randint(1, 5))]
        rows = last(kb, tokens)
        assert {(r["model"], r["layer"], r["neuron"]): r["activation"] for r in rows} == oracle_last(tokens), tokens


def test_last_token_with_a_limit_is_the_head_of_the_whole_answer(kb):
    # the last token alone is read strongest first and stops after $limit: the head of the
    # full, ordered answer, ties at the cut included in the same order
    rng = random.Random(19)
    checked = 0
    for _ in range(60):
        tokens = [rng.choice(TEXT_VOCAB) for _ in range(rng.randint(1, 4))]
        every = last(kb, tokens)
        ordered = sorted(every, key=lambda r: (-r["activation"], r["model"], r["layer"], r["neuron"]))
        assert every == ordered, tokens
        for limit in (1, 2, 3):
            assert kb.read("query/last_token", tokens=tokens, min_activation=0.0, **{**EVERY, "limit": limit}) == every[:limit], tokens
        checked += len(every) > 3
    assert checked > 5  # texts where the limit cuts something


def test_last_token_reports_the_winning_pattern_and_honours_the_threshold(kb):
    rows = last(kb, ["to", "big", "paris"], model=M, layer=1)
    by_key = {(r["model"], r["layer"], r["neuron"]): r for r in rows}
    assert by_key[(M, 1, 5)]["pattern"] == ["to", IGNORE, "paris"]
    assert by_key[(M, 1, 5)]["length"] == 3
    assert keys(last(kb, ["to", "big", "paris"], minimum=0.9)) == {(M, 1, 5), (B, 0, 1)}


def oracle_fire(tokens: list[str]) -> dict[tuple, float]:
    out = {}
    for key, trie in fixture_tries().items():
        for position, value in enumerate(trie.predict(tokens)):
            if value > 0:
                out[(position, *key)] = value
    return out


def fire(kb, tokens, minimum=0.0, **filters):
    rows = fire_rows(kb.read("query/fire", tokens=tokens, min_activation=minimum, **{**EVERY, **filters}), tokens)
    return {(r["position"], r["model"], r["layer"], r["neuron"]): r["activation"] for r in rows}


def test_fire_predicts_every_position_like_trie_predict(kb):
    rng = random.Random(11)
    for _ in range(40):
        tokens = [rng.choice(TEXT_VOCAB) for _ in range(rng.randint(1, 9))]
        assert fire(kb, tokens) == oracle_fire(tokens), tokens


def test_fire_gives_known_predictions_with_patterns_and_tokens(kb):
    tokens = ["mr", "smith", "said", "smith", "in", "paris"]
    assert fire(kb, tokens, model=M, layer=2) == {(1, M, 2, 3): 0.7, (3, M, 2, 3): 0.9}
    records = kb.read("query/fire", tokens=tokens, min_activation=0.85, **ALL)
    assert [(r["position"], r["token"], r["models"], r["layers"], r["neurons"], r["shapes"]) for r in records] == [
        (3, "smith", [M], [2], [3], ["010"]),
        (5, "paris", [M, B], [0, 0], [0, 1], ["00", "0"]),
    ]  # one compact record per position
    rows = fire_rows(records, tokens)
    assert [(r["position"], r["token"], r["model"], r["layer"], r["neuron"], r["pattern"]) for r in rows] == [
        (3, "smith", M, 2, 3, ["smith", IGNORE, "smith"]),
        (5, "paris", M, 0, 0, ["in", "paris"]),
        (5, "paris", B, 0, 1, ["paris"]),
    ]


def test_fire_candidates_returns_the_part_of_each_trie_the_text_can_reach(kb):
    rows = kb.read("query/fire_candidates", tokens=["capital", "of", "france"], **ALL)
    assert keys(rows) == {(M, 1, 7)}
    reachable = Trie.from_rows(rows[0]["nodes"])
    assert reachable.patterns() == [(["france", "of", "capital"], 0.8)]  # the paris branch cannot match
    assert keys(kb.read("query/fire_candidates", tokens=["the", "cat", "fire"], model=M, layer=2)) == {(M, 2, 4), (M, 2, 9)}


def test_fire_candidates_predict_like_the_whole_tries(kb):
    rng = random.Random(13)
    tries = fixture_tries()
    for _ in range(30):
        tokens = [rng.choice(TEXT_VOCAB) for _ in range(rng.randint(1, 6))]
        rows = kb.read("query/fire_candidates", tokens=tokens, **ALL)
        candidates = {(r["model"], r["layer"], r["neuron"]): Trie.from_rows(r["nodes"]) for r in rows}
        for key, trie in tries.items():
            expected = trie.predict(tokens)
            got = candidates[key].predict(tokens) if key in candidates else [0.0] * len(tokens)
            assert got == expected, (key, tokens)
            if key in candidates:
                assert len(candidates[key]) <= len(trie)


# ----------------------------------------------------------------- similar and supersets


def token_sets() -> dict[tuple, tuple[set[str], set[str]]]:
    return {r.key: (set(r.firing_tokens), set(r.context_tokens)) for r in fixture_results()}


def oracle_similarity(a, b) -> float:
    (fa, ca), (fb, cb) = token_sets()[a], token_sets()[b]
    union = len(fa | fb) + len(ca | cb)
    return (len(fa & fb) + len(ca & cb)) / union if union else 0.0


def similar(kb, **params):
    defaults = {"model": None, "layer": None, "neuron": None, "threshold": 0.0, "cross_layer_only": False, "limit": 1000}
    return kb.read("query/similar", **{**defaults, **params})


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.6])
def test_similar_pairs_match_the_jaccard_of_role_tagged_token_sets(kb, threshold):
    rows = similar(kb, model=M, threshold=threshold)
    got = {((M, r["layer"], r["neuron"]), (M, r["other_layer"], r["other_neuron"])): r["similarity"] for r in rows}
    sets = token_sets()
    expected = {}
    for a in sets:
        for b in sets:
            if a[0] == b[0] == M and (a[1], a[2]) < (b[1], b[2]) and oracle_similarity(a, b) >= threshold:
                expected[(a, b)] = oracle_similarity(a, b)
    assert got.keys() == expected.keys()
    for pair, value in expected.items():
        assert got[pair] == pytest.approx(value)
    if threshold <= 0.5:
        assert got[((M, 0, 0), (M, 1, 5))] == pytest.approx(0.5)  # shares firing 'paris' and context 'to'
    assert len(expected) > (0 if threshold > 0.5 else 1)


def test_similar_to_one_neuron_lists_its_neighbours_across_layers(kb):
    rows = similar(kb, model=M, layer=0, neuron=0, threshold=0.5)
    assert {(r["other_layer"], r["other_neuron"]) for r in rows} == {(1, 5), (1, 6)}
    row = next(r for r in rows if (r["other_layer"], r["other_neuron"]) == (1, 5))
    assert (row["firing_jaccard"], row["context_jaccard"]) == (0.5, 0.5)
    assert (row["shared_firing"], row["shared_context"]) == (["paris"], ["to"])
    same_layer = similar(kb, model=M, layer=0, neuron=0, threshold=0.3)
    assert (0, 2) in {(r["other_layer"], r["other_neuron"]) for r in same_layer}
    cross = similar(kb, model=M, layer=0, neuron=0, threshold=0.3, cross_layer_only=True)
    assert (0, 2) not in {(r["other_layer"], r["other_neuron"]) for r in cross}


def test_similar_never_pairs_neurons_of_different_models(kb):
    rows = similar(kb, model=B)
    assert {(r["layer"], r["neuron"], r["other_layer"], r["other_neuron"]) for r in rows} == {(0, 1, 1, 0)}


def oracle_supersets() -> set[tuple]:
    sets = token_sets()
    return {
        (a[0], a[1], a[2], b[1], b[2])
        for a in sets
        for b in sets
        if a[0] == b[0] and sets[b][0] and sets[b][0] < sets[a][0]
    }


def supersets(kb, **params):
    defaults = {"model": None, "layer": None, "neuron": None, "cross_layer_only": False, "limit": 1000}
    return kb.read("query/supersets", **{**defaults, **params})


def test_supersets_are_exactly_the_strict_containments_of_firing_token_sets(kb):
    rows = supersets(kb)
    got = {(r["model"], r["superset_layer"], r["superset_neuron"], r["subset_layer"], r["subset_neuron"]) for r in rows}
    assert got == oracle_supersets()
    assert (M, 0, 2, 1, 6) in got  # cities {paris, london, berlin} over {paris, london}, across layers
    assert (M, 0, 0, 1, 6) not in got and (M, 1, 6, 0, 0) not in got  # equal sets are not strict
    row = next(r for r in rows if (r["superset_layer"], r["superset_neuron"], r["subset_layer"]) == (0, 2, 1) and r["subset_neuron"] == 6)
    assert (row["shared_tokens"], row["extra_tokens"]) == (["london", "paris"], ["berlin"])


def test_supersets_filter_on_either_side_and_across_layers(kb):
    rows = supersets(kb, model=M, layer=1, neuron=6)
    got = {(r["superset_layer"], r["superset_neuron"], r["subset_layer"], r["subset_neuron"]) for r in rows}
    assert got == {(0, 2, 1, 6), (1, 6, 0, 3), (1, 6, 1, 5)}
    cross = supersets(kb, model=M, layer=1, neuron=6, cross_layer_only=True)
    assert {(r["superset_layer"], r["subset_layer"]) for r in cross} == {(0, 1), (1, 0)}


# --------------------------------------------------------------- polysemantic, repetition


def oracle_groups(trie: Trie) -> list[list[str]]:
    def completes(node) -> bool:
        return node.end_activation is not None or any(completes(c) for c in node.children.values())

    def context(node) -> set[str]:
        found = set()
        for child in node.children.values():
            if child.kind == "token" and completes(child):
                found.add(child.token)
            found |= context(child)
        return found

    groups: list[tuple[set[str], set[str]]] = []
    for firing in trie.root.children.values():
        tokens, ctx = {firing.token}, context(firing)
        for g in [g for g in groups if g[1] & ctx]:
            groups.remove(g)
            tokens |= g[0]
            ctx |= g[1]
        groups.append((tokens, ctx))
    return sorted(sorted(g[0]) for g in groups)


def test_polysemantic_groups_match_connected_components_over_shared_context(kb):
    rows = kb.read("query/polysemantic", **ALL, min_groups=1, limit=1000)
    got = {(r["model"], r["layer"], r["neuron"]): r["groups"] for r in rows}
    expected = {key: oracle_groups(trie) for key, trie in fixture_tries().items() if trie.root.children}
    assert got == expected
    assert got[(M, 1, 7)] == [["france", "paris"]]  # joined by 'capital of'
    assert got[(M, 0, 0)] == [["london"], ["paris"]]


def test_polysemantic_returns_neurons_with_at_least_min_groups(kb):
    rows = kb.read("query/polysemantic", model=M, layer=None, min_groups=2, limit=1000)
    by_key = {(r["layer"], r["neuron"]): r for r in rows}
    assert set(by_key) == {(0, 0), (0, 2), (1, 6), (2, 4), (2, 8)}
    assert (by_key[(0, 2)]["n_groups"], by_key[(0, 2)]["context_free"]) == (3, 3)
    assert (by_key[(0, 0)]["n_groups"], by_key[(0, 0)]["context_free"]) == (2, 0)
    assert [r["n_groups"] for r in rows] == sorted((r["n_groups"] for r in rows), reverse=True)


def test_repetition_tells_same_pattern_from_neuron_level_repeats(kb):
    rows = kb.read("query/repetition", **ALL, same_pattern=False, limit=100)
    assert keys(rows, "token", "same_pattern", "distance") == {(M, 2, 3, "smith", True, 2), (M, 2, 4, "the", False, None)}
    strict = kb.read("query/repetition", **ALL, same_pattern=True, limit=100)
    assert keys(strict, "token") == {(M, 2, 3, "smith")}


# ------------------------------------------------------------------ scores and summary


def test_top_neurons_ranks_by_the_chosen_metric_and_skips_unscored_neurons(kb):
    rows = kb.read("query/top_neurons", metric="f1", **ALL, limit=3)
    assert [(r["model"], r["layer"], r["neuron"], r["value"]) for r in rows] == [(M, 1, 5, 0.91), (B, 0, 1, 0.88), (M, 0, 0, 0.82)]
    every = kb.read("query/top_neurons", metric="f1", model=M, layer=2, limit=100)
    assert keys(every) == {(M, 2, 3), (M, 2, 4), (M, 2, 8), (M, 2, 9)}  # dead and failed have no f1
    by_precision = kb.read("query/top_neurons", metric="precision", model=M, layer=0, limit=100)
    assert [r["value"] for r in by_precision] == [0.92, 0.65, 0.4]
    assert by_precision[0]["metric"] == "precision"


def test_layer_summary_counts_status_and_averages_scores(kb):
    rows = {(r["model"], r["layer"]): r for r in kb.read("query/layer_summary", model=None)}
    assert set(rows) == {(M, 0), (M, 1), (M, 2), (B, 0), (B, 1)}
    two = rows[(M, 2)]
    assert (two["neurons"], two["ok"], two["dead"], two["failed"], two["evaluated"]) == (6, 4, 1, 1, 4)
    assert two["mean_f1"] == pytest.approx((0.66 + 0.6 + 0.5 + 0.7) / 4)
    assert two["trie_nodes"] == sum(len(t) for k, t in fixture_tries().items() if k[:2] == (M, 2) and t.root.children)
    assert two["mean_trie_nodes"] == pytest.approx(two["trie_nodes"] / 4)
    assert [r["layer"] for r in kb.read("query/layer_summary", model=B)] == [0, 1]


def test_models_lists_each_model_with_its_neurons_and_layers(kb):
    rows = {r["model"]: r for r in kb.read("query/models")}
    assert set(rows) == {M, B}
    assert (rows[M]["neurons"], rows[M]["layers"]) == (sum(1 for n in FIXTURE_NEURONS if n.model == M), [0, 1, 2])
    assert rows[M]["properties"]["n_layers"] == 3


def test_units_counts_each_models_neurons_by_kind_and_layer(kb):
    rows = kb.read("query/units", kind="neuron")
    assert {(r["model"], r["layer"]) for r in rows} == {(n.model, n.layer) for n in FIXTURE_NEURONS}
    assert sum(r["units"] for r in rows) == len(FIXTURE_NEURONS)
    assert all(r["kind"] == "neuron" and r["sae"] is None for r in rows)
    assert sum(r["ok"] + r["dead"] + r["failed"] for r in rows) == len(FIXTURE_NEURONS)
    assert kb.read("query/units", kind="sae_latent") == []
    assert kb.read("query/units", kind=None) == rows


def test_neuron_graph_returns_every_trie_node_of_one_neuron(kb):
    rows = kb.read("query/neuron_graph", model=M, layer=1, neuron=7)
    assert Trie.from_rows([r["node"] for r in rows]) == fixture_tries()[(M, 1, 7)]
    ids = [r["node"]["id"] for r in rows]
    assert len(set(ids)) == len(ids) == 7  # ids: the path from the root (none is stored)
    assert ids == sorted(ids) and ids[0] == ""  # the root first
    assert sorted((r["node"]["parent"] is None) for r in rows) == [False] * 6 + [True]
    assert {r["node"]["parent"] for r in rows} - {None} <= set(ids)
    assert kb.read("query/neuron_graph", model=M, layer=2, neuron=10) == []  # dead: no trie


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("token", ["it's", "\\", "café", "Ġ", INJECTION])
def test_tokens_with_quotes_backslashes_unicode_and_byte_level_characters_are_found_exactly(kb, token):
    assert keys(kb.read("query/fires_on", token=token, **EVERY)) == {(M, 2, 8)}


def test_context_tokens_with_newlines_quotes_and_byte_level_characters_are_found_exactly(kb):
    assert keys(context(kb, "it's", ["\n"], distance=1)) == {(M, 2, 8)}
    assert keys(context(kb, "\\", ['"'])) == {(M, 2, 8)}
    assert keys(context(kb, "café", ["Ċ"])) == {(M, 2, 8)}
    assert context(kb, "it's", ["\\n"]) == []  # a literal backslash-n is not a newline


def test_a_token_that_looks_like_cypher_is_only_ever_a_value(kb):
    before = kb.counts()
    for name, params in [
        ("query/fires_on", {"token": INJECTION, **EVERY}),
        ("query/context", {"token": INJECTION, "context": [INJECTION], "distance": None, **EVERY}),
        ("query/last_token", {"tokens": [INJECTION, INJECTION], "min_activation": 0.0, **EVERY}),
    ]:
        kb.read(name, **params)
    assert kb.counts() == before
    assert keys(last(kb, ["x", INJECTION])) == {(M, 2, 8)}
