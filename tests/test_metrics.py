"""Precision/recall/F1 of firing predictions, and the paper's two baselines."""

from __future__ import annotations

import pytest

from n2g_kb.n2g.metrics import (
    NGramBaseline,
    Scores,
    TokenLookupBaseline,
    evaluate,
    firing_scores,
    metrics_dict,
    scores_from_counts,
)
from n2g_kb.n2g.trie import Trie

TRUE = [[0.9, 0.1, 0.6, 0.0, 0.3], [0.5, 0.2]]
PRED = [[0.8, 0.7, 0.0, 0.0, 0.55], [0.5, 0.0]]
# firing at >= 0.5: tp = (0,0) (1,0); fp = (0,1) (0,4); fn = (0,2); tn = (0,3) (1,1)


def test_firing_and_nonfiring_scores_match_a_hand_count():
    scores = firing_scores(TRUE, PRED)
    third, seventh = pytest.approx(2 / 3), pytest.approx(4 / 7)
    assert scores["firing"] == Scores(precision=0.5, recall=third, f1=seventh, support=3)
    assert scores["nonfiring"] == Scores(precision=third, recall=0.5, f1=seventh, support=4)


def test_an_activation_equal_to_the_threshold_fires():
    scores = firing_scores([[0.5]], [[0.5]])["firing"]
    assert scores == Scores(1.0, 1.0, 1.0, 1)
    assert firing_scores([[0.5]], [[0.5]], threshold=0.6)["firing"].support == 0


def test_no_firing_tokens_and_none_predicted_scores_perfectly_with_zero_support():
    scores = firing_scores([[0.1, 0.2]], [[0.0, 0.0]])
    assert scores["firing"] == Scores(1.0, 1.0, 1.0, 0)
    assert scores["nonfiring"] == Scores(1.0, 1.0, 1.0, 2)


def test_predicting_nothing_has_full_precision_but_no_recall():
    assert firing_scores([[0.9, 0.1]], [[0.0, 0.0]])["firing"] == Scores(1.0, 0.0, 0.0, 1)


def test_predicting_firing_where_none_is_true_has_no_precision():
    assert firing_scores([[0.1, 0.1]], [[0.9, 0.0]])["firing"] == Scores(0.0, 1.0, 0.0, 0)


def test_scores_from_counts_follow_the_formulas():
    assert scores_from_counts(3, 1, 2) == Scores(0.75, 0.6, pytest.approx(2 * 0.75 * 0.6 / 1.35), 5)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="examples"):
        firing_scores([[0.1]], [])
    with pytest.raises(ValueError, match="example 0"):
        firing_scores([[0.1, 0.2]], [[0.1]])


def test_token_lookup_predicts_each_tokens_highest_training_activation():
    baseline = TokenLookupBaseline().fit([[" a", " b", " a"], [" c"]], [[0.2, 0.9, 0.7], [0.1]])
    assert baseline.table == {" a": 0.7, " b": 0.9, " c": 0.1}
    assert baseline.predict([" a", " d", " b", "a"]) == [0.7, 0.0, 0.9, 0.0]


def test_ngram_baseline_needs_the_same_prior_token_as_a_firing_training_window():
    tokens = [[" f", " x", " f", " y", " f", " z", " f"]]
    baseline = NGramBaseline(prior_context=1).fit(tokens, [[0.9, 0, 0.8, 0, 0.6, 0, 0.4]])
    assert baseline.table == {(" f",): 0.9, (" x", " f"): 0.8, (" y", " f"): 0.6}
    assert baseline.predict([" f", " x", " f", " q", " f", " y", " f", " z", " f"]) == [
        0.9, 0.0, 0.8, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0,
    ]


def test_a_unigram_baseline_remembers_only_firing_tokens():
    baseline = NGramBaseline(prior_context=0).fit([[" a", " b", " a"]], [[0.3, 0.9, 0.7]])
    assert baseline.predict([" a", " b"]) == [0.7, 0.9]
    with pytest.raises(ValueError):
        NGramBaseline(prior_context=-1)


def test_metrics_dict_is_flat_with_prefixed_baselines():
    out = metrics_dict(TRUE, PRED, {"token": TRUE})
    assert set(out) == {
        f"{prefix}{cls}{stat}"
        for prefix in ("", "baseline_token_")
        for cls in ("", "nonfiring_")
        for stat in ("precision", "recall", "f1", "support")
    }
    assert out["precision"] == 0.5 and out["support"] == 3.0 and out["nonfiring_recall"] == 0.5
    assert out["baseline_token_f1"] == 1.0 and out["baseline_token_nonfiring_support"] == 4.0
    assert all(isinstance(v, float) for v in out.values())


def test_evaluate_scores_a_trie_next_to_both_baselines():
    trie = Trie()
    trie.add_sample([" in", " Paris"], [0.0, 0.9], [[1.0, 0.0], [0.8, 1.0]])
    train_tokens, train_acts = [[" in", " Paris"]], [[0.0, 0.9]]
    test_tokens = [[" at", " Paris", " in", " Paris"]]
    test_acts = [[0.0, 0.1, 0.0, 0.8]]
    out = evaluate(trie, train_tokens, train_acts, test_tokens, test_acts)
    assert (out["precision"], out["recall"], out["f1"]) == (1.0, 1.0, 1.0)
    # token lookup fires on both " Paris": one false positive
    assert out["baseline_token_precision"] == 0.5 and out["baseline_token_recall"] == 1.0
    # the bigram (" in", " Paris") is exactly the firing window
    assert out["baseline_ngram_f1"] == 1.0
