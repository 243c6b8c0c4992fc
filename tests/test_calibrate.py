"""The n2g+ rules on hand-built examples: back-off, calibration on the training split,
prompts for every firing token."""

from __future__ import annotations

import numpy as np
import pytest

from n2g_kb.n2g.calibrate import add_backoff, calibrate
from n2g_kb.n2g.firing import firing_prompts
from n2g_kb.n2g.trie import Trie


def _paris_trie() -> Trie:
    """The paper's trie of one example: ' Paris' fires (0.9) and needs ' in' just before it."""
    tokens = ["I", " live", " in", " Paris"]
    importances = np.zeros((4, 4))
    importances[3, 2] = 0.9
    return Trie.from_samples([(tokens, [0.0, 0.0, 0.1, 0.9], importances)])


def test_without_back_off_a_firing_token_out_of_its_context_predicts_nothing():
    assert _paris_trie().predict([" to", " Paris"]) == [0.0, 0.0]


def test_the_back_off_predicts_a_firing_token_whose_context_patterns_all_miss():
    trie = _paris_trie()
    training = [["I", " live", " in", " Paris"], [" Paris", " is", " big"]]
    acts = [[0.0, 0.0, 0.1, 0.9], [0.7, 0.0, 0.0]]
    assert add_backoff(trie, training, acts) == 1
    # context matches: the longer pattern decides; it does not: the back-off (mean of 0.9 and 0.7)
    assert trie.predict([" in", " Paris"])[1] == pytest.approx(0.9)
    assert trie.predict([" to", " Paris"])[1] == pytest.approx(0.8)
    assert trie.predict([" to", " Rome"]) == [0.0, 0.0]
    assert trie.firing_tokens() == {"paris": 0.9}


def test_a_token_that_fires_only_in_an_unseen_window_gets_a_back_off_node_of_its_own():
    trie = _paris_trie()
    add_backoff(trie, [[" Rome", "."]], [[0.6, 0.0]])
    assert trie.predict([" Rome"]) == [pytest.approx(0.6)]


def test_the_back_off_can_learn_the_token_just_before_a_firing_token():
    trie = Trie()
    add_backoff(trie, [["<|endoftext|>", "In", " In"]], [[0.0, 0.9, 0.1]], prior_token=True)
    assert trie.patterns() == [(["in"], 0.9), (["in", "<|endoftext|>"], 0.9)]


def test_calibration_sets_each_pattern_from_the_training_positions_it_decides():
    trie = Trie()
    tokens = [[" the", " cat"], [" the", " dog"], [" the", " end"], [" the", " sun"]]
    acts = [[0.8, 0.0], [0.1, 0.0], [0.2, 0.0], [0.3, 0.0]]  # ' the' fires once in four
    add_backoff(trie, tokens, acts)
    assert trie.predict([" the"]) == [pytest.approx(0.8)]  # before: the firing mean
    calibrate(trie, tokens, acts, min_precision=0.5)
    assert trie.predict([" the"]) == [pytest.approx(0.2)]  # 1/4 < 0.5: mean of the quiet ones
    calibrate(trie, tokens, acts, min_precision=0.25)
    assert trie.predict([" the"]) == [pytest.approx(0.8)]  # 1/4 >= 0.25: fires, at the firing mean


def test_calibration_lets_a_context_pattern_overrule_its_token():
    trie = Trie()
    tokens = [[" not", " good"], [" very", " good"], [" so", " good"]]
    acts = [[0.0, 0.1], [0.0, 0.9], [0.0, 0.8]]
    importances = np.zeros((2, 2))
    importances[1, 0] = 0.9
    trie.add_sample(tokens[0], [0.0, 0.9], importances)  # a pattern ' good' <- ' not' seen firing once
    trie.merge_ignores()
    add_backoff(trie, tokens, acts)
    calibrate(trie, tokens, acts, min_precision=0.5)
    assert trie.predict([" not", " good"])[1] == pytest.approx(0.1)  # its context says: does not fire
    assert trie.predict([" too", " good"])[1] == pytest.approx(0.85)  # the back-off: fires


def test_the_prior_keeps_a_pattern_seen_once_from_overruling_what_its_token_usually_does():
    trie = Trie()
    tokens = [[" a", " x"], [" b", " x"], [" c", " x"], [" d", " x"]]
    acts = [[0.0, 0.1], [0.0, 0.9], [0.0, 0.9], [0.0, 0.9]]
    importances = np.zeros((2, 2))
    importances[1, 0] = 0.9
    trie.add_sample(tokens[0], [0.0, 0.9], importances)
    add_backoff(trie, tokens, acts)
    calibrate(trie, tokens, acts, min_precision=0.5, prior=3.0)  # (0 + 3 * 0.75) / (1 + 3) >= 0.5
    assert trie.predict([" a", " x"])[1] == pytest.approx(0.9)
    calibrate(trie, tokens, acts, min_precision=0.5, prior=0.0)
    assert trie.predict([" a", " x"])[1] == pytest.approx(0.1)


def test_every_firing_token_gets_a_prompt_and_the_key_token_is_left_to_the_paper_pipeline():
    windows = [[10, 11, 12, 13, 14], [20, 21, 22]]
    acts = [[0.0, 0.9, 0.0, 1.0, 0.6], [0.0, 0.7, 0.0]]
    prompts = firing_prompts(windows, acts, [3, None], prefix=[0], threshold=0.5, context=2, limit=10)
    # highest activation first: 0.9 (window 0, pos 1), 0.7 (window 1, pos 1), 0.6 (window 0, pos 4)
    assert [(p.ids, p.activation) for p in prompts] == [([0, 10, 11], 0.9), ([0, 20, 21], 0.7), ([0, 13, 14], 0.6)]
    assert len(firing_prompts(windows, acts, [3, None], prefix=[0], threshold=0.5, context=2, limit=1)) == 1


def test_a_second_firing_token_of_a_training_window_is_learned_with_its_own_context():
    # The paper pipeline learns ' Paris' (the key token); the prompt of the second firing
    # token ' Rome' adds it, with the context its importances name.
    trie = _paris_trie()
    (prompt,) = firing_prompts(
        [[1, 2, 3, 4, 5, 6]], [[0.0, 0.0, 0.1, 0.9, 0.0, 0.7]], [3], prefix=[0], threshold=0.5, context=3, limit=8
    )
    tokens = {0: "<|endoftext|>", 4: " Paris", 5: " and", 6: " Rome"}
    importances = np.zeros((4, 4))
    importances[3, 1] = 0.95  # ' Paris' matters to ' Rome'; ' and' does not
    trie.add_sample([tokens[i] for i in prompt.ids], [0.0, 0.0, 0.0, prompt.activation], importances)
    trie.merge_ignores()
    assert trie.predict([" Paris", " and", " Rome"])[2] == pytest.approx(0.7)
    assert trie.predict([" Paris", " or", " Rome"])[2] == pytest.approx(0.7)
    assert trie.predict([" Vienna", " and", " Rome"])[2] == 0.0
    assert set(trie.firing_tokens()) == {"paris", "rome"}
