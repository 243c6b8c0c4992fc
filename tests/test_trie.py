"""The N2G trie: building from samples, merging wildcards, predicting, rows round trip."""

from __future__ import annotations

import json
import random

import pytest

from n2g_kb.errors import N2GKBError
from n2g_kb.n2g.trie import (
    IGNORE,
    ROW_KEYS,
    Trie,
    TrieRowsError,
    important_positions,
    normalise_token,
)


def importances(n: int, rows: dict[int, dict[int, float]]) -> list[list[float]]:
    """An n x n importance matrix, zero except ``rows[j][k]`` (importance of k for j)."""
    matrix = [[0.0] * n for _ in range(n)]
    for j, row in rows.items():
        for k, value in row.items():
            matrix[j][k] = value
    return matrix


def sample(tokens: list[str], firing: dict[int, float], important: dict[int, dict[int, float]]):
    activations = [firing.get(j, 0.0) for j in range(len(tokens))]
    return tokens, activations, importances(len(tokens), important)


def pattern_trie(*patterns: tuple[list[str], float], merge: bool = True) -> Trie:
    """A trie holding exactly the given patterns (firing token first, IGNORE for wildcards)."""
    trie = Trie()
    for path, activation in patterns:
        tokens = list(reversed([f"w{i}" if t == IGNORE else t for i, t in enumerate(path)]))
        n = len(tokens)
        row = {n - 1 - i: (0.0 if t == IGNORE else 0.9) for i, t in enumerate(path)}
        trie.add_sample(*sample(tokens, {n - 1: activation}, {n - 1: row}))
    if merge:
        trie.merge_ignores()
    return trie


# ----------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (" Paris", "paris"),
        ("Paris", "paris"),
        (" paris", "paris"),
        (" PARIS", "PARIS"),
        (" McDonald", "McDonald"),
        ("Hello-World", "hello-world"),
        ("I", "I"),
        (" I", "i"),
        (" ,", " ,"),
        ("\n", "\n"),
        (" 2019", " 2019"),
        ("Ġ", "Ġ"),
        ("ĠParis", "ĠParis"),
        (" \t", " \t"),
    ],
)
def test_tokens_are_normalised_like_the_reference(raw, normalised):
    assert normalise_token(raw) == normalised


# ----------------------------------------------------------------------- building


def test_a_firing_token_walks_back_through_wildcards_to_its_furthest_important_token():
    trie = Trie()
    tokens = [" The", " cat", " sat", " on", " mat"]
    trie.add_sample(*sample(tokens, {4: 0.8}, {4: {0: 0.2, 1: 0.9, 2: 0.1, 3: 0.3, 4: 1.0}}))

    assert trie.patterns() == [(["mat", IGNORE, IGNORE, "cat"], 0.8)]
    rows = trie.to_rows()
    assert [(r["kind"], r["token"], r["depth"]) for r in rows] == [
        ("root", None, 0),
        ("token", "mat", 1),
        ("ignore", IGNORE, 2),
        ("ignore", IGNORE, 3),
        ("token", "cat", 4),
    ]
    assert rows[1]["activation"] == 0.8 and rows[1]["importance"] is None
    assert rows[4]["importance"] == 0.9 and rows[4]["end_activation"] == 0.8
    assert [r["end_activation"] for r in rows[:4]] == [None, None, None, None]


def test_the_firing_token_is_a_node_even_when_it_is_not_important_to_itself():
    trie = Trie()
    trie.add_sample(*sample([" a", " b"], {1: 0.7}, {1: {0: 0.1, 1: 0.0}}))
    assert trie.patterns() == [(["b"], 0.7)]
    assert len(trie) == 2


def test_thresholds_are_strict_inequalities():
    trie = Trie()
    trie.add_sample(*sample([" a", " b", " c"], {1: 0.5, 2: 0.6}, {2: {0: 0.76, 1: 0.75}}))
    # b sits exactly on the activation threshold and does not fire; b's importance for c
    # sits exactly on the importance threshold and is a wildcard.
    assert trie.patterns() == [(["c", IGNORE, "a"], 0.6)]


def test_every_firing_token_of_a_sample_starts_its_own_pattern():
    trie = Trie()
    tokens = [" x", " y", " x", " z"]
    trie.add_sample(*sample(tokens, {1: 0.6, 3: 0.9}, {1: {0: 0.8}, 3: {2: 0.95}}))
    assert trie.patterns() == [(["y", "x"], 0.6), (["z", "x"], 0.9)]
    assert trie.firing_tokens() == {"y": 0.6, "z": 0.9}
    assert trie.context_tokens() == {"x": 0.95}


def test_repeated_nodes_keep_the_highest_values_whatever_the_order():
    first = sample([" a", " b"], {1: 0.6}, {1: {0: 0.95}})
    second = sample([" A", " B"], {1: 0.9}, {1: {0: 0.8}})
    forward, backward = Trie(), Trie()
    for s in (first, second):
        forward.add_sample(*s)
    for s in (second, first):
        backward.add_sample(*s)
    assert forward == backward
    assert forward.patterns() == [(["b", "a"], 0.9)]
    assert forward.firing_tokens() == {"b": 0.9}
    assert forward.context_tokens() == {"a": 0.95}


def test_a_shorter_pattern_ending_inside_a_longer_one_keeps_both_ends():
    trie = Trie()
    trie.add_sample(*sample([" a", " b"], {1: 0.7}, {}))
    trie.add_sample(*sample([" c", " a", " b"], {2: 0.9}, {2: {0: 0.8, 1: 0.9}}))
    assert trie.patterns() == [(["b"], 0.7), (["b", "a", "c"], 0.9)]


def test_the_bos_token_is_passed_over_neither_node_nor_wildcard():
    trie = Trie()
    tokens = [" x", "<|endoftext|>", " b"]
    trie.add_sample(*sample(tokens, {2: 0.8}, {2: {0: 0.9, 1: 0.99}}))
    assert trie.patterns() == [(["b", "x"], 0.8)]
    bos_only = Trie()
    bos_only.add_sample(*sample(["<|endoftext|>", " b"], {0: 0.9, 1: 0.8}, {1: {0: 0.99}}))
    assert bos_only.patterns() == [(["b"], 0.8)]


def test_inherited_important_positions_become_token_nodes_despite_low_importance():
    original = sample([" a", " b", " c"], {2: 0.9}, {2: {0: 0.9, 1: 0.1}})
    inherited = important_positions(original[2], importance_threshold=0.75)
    assert inherited == [set(), set(), {0}]
    augmented = sample([" d", " b", " c"], {2: 0.7}, {2: {0: 0.2, 1: 0.1}})
    trie = Trie()
    trie.add_sample(*augmented, inherited_important=inherited)
    assert trie.patterns() == [(["c", IGNORE, "d"], 0.7)]
    plain = Trie()
    plain.add_sample(*augmented)
    assert plain.patterns() == [(["c"], 0.7)]


def test_bad_samples_are_refused():
    trie = Trie()
    with pytest.raises(ValueError, match="activations"):
        trie.add_sample([" a"], [0.9, 0.1], [[1.0]])
    with pytest.raises(ValueError, match="importance rows"):
        trie.add_sample([" a"], [0.9], [])
    with pytest.raises(ValueError, match="reserved"):
        trie.add_sample([IGNORE], [0.9], [[1.0]])


# ------------------------------------------------------------------------ merging


def test_merging_hands_token_siblings_children_to_the_wildcard_and_drops_non_ending_ones():
    trie = pattern_trie(
        (["f", "c", "e"], 0.7),
        (["f", IGNORE, "z"], 0.9),
        (["f", "b"], 0.6),
        (["f", "b", "y"], 0.8),
        merge=False,
    )
    trie.merge_ignores()
    assert trie.patterns() == [
        (["f", IGNORE, "e"], 0.7),
        (["f", IGNORE, "y"], 0.8),
        (["f", IGNORE, "z"], 0.9),
        (["f", "b"], 0.6),
        (["f", "b", "y"], 0.8),
    ]
    before = trie.to_rows()
    trie.merge_ignores()
    assert trie.to_rows() == before


def test_merging_takes_the_highest_values_where_paths_meet():
    trie = pattern_trie((["f", "c", "e"], 0.95), (["f", IGNORE, "e"], 0.6))
    assert trie.patterns() == [(["f", IGNORE, "e"], 0.95)]


def test_merging_reaches_wildcards_below_the_first_level():
    trie = pattern_trie((["f", "a", "c", "e"], 0.7), (["f", "a", IGNORE, "z"], 0.9))
    assert trie.patterns() == [(["f", "a", IGNORE, "e"], 0.7), (["f", "a", IGNORE, "z"], 0.9)]


# --------------------------------------------------------------------- prediction


def test_a_wildcard_matches_any_token():
    trie = pattern_trie((["paris", IGNORE, "in"], 0.93))
    assert trie.predict([" in", " lovely", " Paris"]) == [0.0, 0.0, 0.93]
    assert trie.predict([" in", "\n", " Paris"]) == [0.0, 0.0, 0.93]
    assert trie.predict([" on", " lovely", " Paris"]) == [0.0, 0.0, 0.0]
    assert trie.predict([" Paris"]) == [0.0]


def test_the_longest_matching_pattern_wins():
    trie = pattern_trie((["paris"], 0.6), (["paris", "in"], 0.8), (["paris", "in", "lived"], 0.95))
    assert trie.predict([" Paris"]) == [0.6]
    assert trie.predict([" in", " Paris"]) == [0.0, 0.8]
    assert trie.predict([" lived", " in", " Paris"]) == [0.0, 0.0, 0.95]
    assert trie.predict([" died", " in", " Paris"]) == [0.0, 0.0, 0.8]


def test_an_incomplete_pattern_does_not_count_as_a_match():
    trie = pattern_trie((["paris", "in", "lived"], 0.95))
    assert trie.predict([" in", " Paris"]) == [0.0, 0.0]


def test_prediction_normalises_its_tokens():
    trie = pattern_trie((["paris", "in"], 0.8))
    assert trie.predict(["In", "Paris"]) == [0.0, 0.8]
    assert trie.predict([" IN", " Paris"]) == [0.0, 0.0]


def test_longest_search_looks_past_an_exact_match_where_greedy_does_not():
    trie = pattern_trie((["f", "c"], 0.6), (["f", IGNORE, "z"], 0.9))
    assert trie.patterns() == [(["f", IGNORE, "z"], 0.9), (["f", "c"], 0.6)]
    assert trie.predict(["z", "c", "f"]) == [0.0, 0.0, 0.9]
    assert trie.predict(["z", "c", "f"], greedy=True) == [0.0, 0.0, 0.6]


def test_among_equally_long_matches_the_exact_one_wins():
    trie = pattern_trie((["f", "c", "z"], 0.55), (["f", IGNORE, "z"], 0.9), merge=False)
    assert trie.predict(["z", "c", "f"]) == [0.0, 0.0, 0.55]
    assert trie.predict(["z", "q", "f"]) == [0.0, 0.0, 0.9]


def test_a_trie_fires_on_its_own_activating_training_tokens():
    rng = random.Random(7)
    vocab = [" a", " B", " c", " d", "\n", " 1", "Ġx"]
    samples = []
    for _ in range(30):
        n = rng.randint(1, 8)
        tokens = [rng.choice(vocab) for _ in range(n)]
        acts = [rng.choice([0.0, 0.2, 0.55, 0.8, 1.0]) for _ in range(n)]
        imps = [[rng.random() for _ in range(n)] for _ in range(n)]
        samples.append((tokens, acts, imps))
    trie = Trie.from_samples(samples)
    for tokens, acts, _ in samples:
        predicted = trie.predict(tokens)
        for j, act in enumerate(acts):
            if act > 0.5:
                assert predicted[j] > 0.5, (tokens, j)


# --------------------------------------------------------------------------- rows


def random_trie(seed: int) -> Trie:
    rng = random.Random(seed)
    vocab = [" the", " The", " Paris", " ,", "\n", '"', "\\", "Ġ", "é", "漢字", " 2019", "'s"]
    samples = []
    for _ in range(25):
        n = rng.randint(1, 10)
        samples.append(
            (
                [rng.choice(vocab) for _ in range(n)],
                [round(rng.random(), 3) for _ in range(n)],
                [[round(rng.random(), 3) for _ in range(n)] for _ in range(n)],
            )
        )
    return Trie.from_samples(samples)


def test_rows_have_exactly_the_agreed_keys_in_depth_first_token_order():
    trie = pattern_trie((["b", "y"], 0.7), (["a", "z"], 0.8), (["a", "x"], 0.6))
    rows = trie.to_rows()
    assert all(tuple(row) == ROW_KEYS for row in rows)
    assert [r["id"] for r in rows] == list(range(len(rows)))
    assert [(r["token"], r["parent"]) for r in rows] == [
        (None, None),
        ("a", 0),
        ("x", 1),
        ("z", 1),
        ("b", 0),
        ("y", 4),
    ]
    assert rows[0]["kind"] == "root" and len(trie) == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_in_any_order_rebuild_an_identical_trie_with_identical_predictions(seed):
    trie = random_trie(seed)
    rows = trie.to_rows()
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    rebuilt = Trie.from_rows(json.loads(json.dumps(shuffled)))
    assert rebuilt == trie
    assert rebuilt.to_rows() == rows
    rng = random.Random(100 + seed)
    vocab = [" the", " Paris", "paris", " ,", "\n", '"', "\\", "Ġ", "é", "漢字", "x"]
    for _ in range(50):
        tokens = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        assert rebuilt.predict(tokens) == trie.predict(tokens)


def test_weird_tokens_survive_the_rows_exactly():
    weird = ['"', "\\", "\n", "Ġ", "Ċ", "é", "漢字", "'", " \t", "\\n", 'a"b\\c', "\u200b"]
    weird.append("🙂")
    trie = Trie()
    for token in weird:
        trie.add_sample(*sample([" ctx", token], {1: 0.9}, {1: {0: 0.8}}))
    rebuilt = Trie.from_rows(json.loads(json.dumps(trie.to_rows())))
    assert rebuilt == trie
    assert set(rebuilt.firing_tokens()) == {normalise_token(t) for t in weird}
    for token in weird:
        assert rebuilt.predict([" ctx", token]) == [0.0, 0.9]


def test_rows_missing_null_properties_still_load():
    rows = [
        {key: value for key, value in row.items() if value is not None}
        for row in pattern_trie((["b", IGNORE, "y"], 0.7)).to_rows()
    ]
    assert Trie.from_rows(rows) == pattern_trie((["b", IGNORE, "y"], 0.7))


def test_inconsistent_rows_are_refused_with_a_project_error():
    rows = pattern_trie((["b", "y"], 0.7)).to_rows()
    broken_parent = [dict(r) for r in rows]
    broken_parent[2]["parent"] = 99
    broken_depth = [dict(r) for r in rows]
    broken_depth[2]["depth"] = 5
    two_roots = rows + [dict(rows[0], id=50)]
    for bad in (broken_parent, broken_depth, two_roots, rows[1:]):
        with pytest.raises(TrieRowsError, match="re-extract"):
            Trie.from_rows(bad)
    assert issubclass(TrieRowsError, N2GKBError)


def test_equality_compares_every_value():
    assert pattern_trie((["b", "y"], 0.7)) == pattern_trie((["b", "y"], 0.7))
    assert pattern_trie((["b", "y"], 0.7)) != pattern_trie((["b", "y"], 0.71))
    assert pattern_trie((["b", "y"], 0.7)) != pattern_trie((["b", "z"], 0.7))
    assert Trie() == Trie() and len(Trie()) == 1 and Trie().predict([" a"]) == [0.0]
