"""Mining: one corpus pass finds every neuron's top windows, checked by brute force."""

from __future__ import annotations

import pytest
import torch

from n2g_kb.runners.corpus import token_windows
from n2g_kb.errors import CorpusError
from n2g_kb.runners.mining import MinedExamples, MiningOptions, RunningTopK, merge_parts, mine, prefetch, window_scores
from n2g_kb.lm.model import load_model
from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

LAYERS = [0, 1]
NEURONS = [0, 5, 17, 40, 63]
K = 4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = build_tiny_gpt2(tmp_path_factory.mktemp("tiny"), corpus=synthetic_corpus(300), d_mlp=64)
    return load_model(str(path), device="cpu")


@pytest.fixture(scope="module")
def windows(model):
    return list(token_windows(synthetic_corpus(120, seed=3), model.to_tokens_batch, model.bos_token_id, context=24))


@pytest.fixture(scope="module")
def mined(model, windows):
    return mine(model, LAYERS, NEURONS, windows, MiningOptions(n_examples=K, context=24, batch_size=7))


def _brute_force(model, windows, layer, neuron):
    """(score, window index, activations with BOS) of every window, best first."""
    scored = []
    for i, w in enumerate(windows):
        acts = model.layer_activations(torch.tensor([[model.bos_token_id, *w]]), [layer])[layer][0, :, neuron]
        scored.append((float(acts[1:].max()), i, acts))
    return sorted(scored, key=lambda s: -s[0])


def test_the_running_top_k_keeps_the_k_best_scores_of_every_column():
    top = RunningTopK(k=2, n_neurons=3, device="cpu")
    top.update(torch.tensor([[1.0, 5.0, 0.0], [3.0, 4.0, -1.0]]), torch.tensor([0, 1]))
    top.update(torch.tensor([[2.0, 6.0, -2.0]]), torch.tensor([2]))
    assert top.values.tolist() == [[3.0, 6.0, 0.0], [2.0, 5.0, -1.0]]
    assert top.ids.tolist() == [[1, 2, 0], [2, 0, 1]]


def test_window_scores_ignore_the_bos_position_and_the_padding():
    acts = torch.tensor([[[9.0], [1.0], [2.0], [8.0]], [[9.0], [3.0], [7.0], [7.0]]])
    assert window_scores(acts, torch.tensor([3, 4]), first=1).tolist() == [[2.0], [7.0]]


def test_mining_finds_the_same_top_windows_as_brute_force(model, windows, mined):
    for layer in LAYERS:
        for neuron in (0, 17, 63):
            truth = _brute_force(model, windows, layer, neuron)[:K]
            examples = mined.examples(layer, neuron, model.to_str_tokens)
            assert [max(e.activations) for e in examples] == pytest.approx([t[0] for t in truth], abs=1e-5)
            for example, (_, index, acts) in zip(examples, truth):
                assert example.tokens == model.to_str_tokens(windows[index])
                assert example.activations == pytest.approx(acts[1:].tolist(), abs=1e-5)


def test_the_max_activation_is_the_best_window_score_over_the_whole_corpus(model, windows, mined):
    truth = _brute_force(model, windows, 1, 40)
    assert mined.max_activation(1, 40) == pytest.approx(truth[0][0], abs=1e-5)
    assert mined.max_activations(1, [40]) == {40: pytest.approx(truth[0][0], abs=1e-5)}


def test_each_neuron_gets_distinct_windows(mined):
    for layer in LAYERS:
        for row in mined.layers[layer].window_index.tolist():
            assert len(set(row)) == K


def test_mined_examples_survive_a_checkpoint_round_trip(tmp_path, model, mined):
    path = tmp_path / "run" / "mined.pt"
    mined.save(path)
    loaded = MinedExamples.load(path)
    assert loaded is not None
    assert loaded.n_tokens == mined.n_tokens and loaded.n_windows == mined.n_windows
    assert loaded.examples(0, 5, model.to_str_tokens) == mined.examples(0, 5, model.to_str_tokens)
    assert loaded.max_activation(1, 63) == mined.max_activation(1, 63)


def test_a_damaged_or_missing_checkpoint_is_a_cache_miss(tmp_path):
    damaged = tmp_path / "mined.pt"
    damaged.write_bytes(b"not a checkpoint")
    assert MinedExamples.load(damaged) is None
    assert MinedExamples.load(tmp_path / "missing.pt") is None


def test_a_corpus_with_fewer_windows_than_examples_names_the_numbers(model, windows):
    with pytest.raises(CorpusError, match=r"gave 3 windows .* but --examples 4 needs 4 distinct windows"):
        mine(model, [0], [0], windows[:3], MiningOptions(n_examples=4, context=24))


def test_an_empty_corpus_is_a_corpus_error(model):
    with pytest.raises(CorpusError, match="no text to mine"):
        mine(model, [0], [0], [], MiningOptions(n_examples=2, context=24))


def test_prefetch_keeps_the_order_and_hands_errors_to_the_consumer():
    assert list(prefetch(iter(range(500)), depth=4)) == list(range(500))

    def broken():
        yield 1
        raise CorpusError("corpus broke")

    stream = prefetch(broken())
    assert next(stream) == 1
    with pytest.raises(CorpusError, match="corpus broke"):
        next(stream)


def test_ties_go_to_the_earlier_window_so_the_top_k_is_a_total_order():
    top = RunningTopK(k=2, n_neurons=1, device="cpu")
    top.update(torch.tensor([[1.0], [2.0], [2.0]]), torch.tensor([0, 1, 2]))
    top.update(torch.tensor([[2.0], [3.0]]), torch.tensor([3, 4]))
    assert top.ids.tolist() == [[4], [1]]


@pytest.mark.parametrize("n_parts", [2, 3, 9])
def test_merging_the_parts_of_a_corpus_gives_exactly_one_pass_s_result(model, windows, mined, n_parts):
    options = MiningOptions(n_examples=K, context=24, batch_size=7)
    parts = [mine(model, LAYERS, NEURONS, windows, options, part=(i, n_parts)) for i in range(n_parts)]
    assert sum(p.n_tokens for p in parts) == mined.n_tokens
    merged = merge_parts(parts, options)
    assert merged.n_windows == mined.n_windows and merged.n_tokens == mined.n_tokens
    assert torch.equal(merged.window_ids, mined.window_ids)
    assert torch.equal(merged.windows, mined.windows) and torch.equal(merged.lengths, mined.lengths)
    for layer in LAYERS:
        a, b = merged.layers[layer], mined.layers[layer]
        assert torch.equal(a.window_index, b.window_index)
        assert torch.equal(a.scores, b.scores) and torch.equal(a.max_activations, b.max_activations)
        assert torch.allclose(a.activations, b.activations, atol=1e-5)


def test_merging_parts_checks_the_whole_corpus_is_long_enough(model, windows):
    options = MiningOptions(n_examples=4, context=24, batch_size=1)
    parts = [mine(model, [0], [0], windows[:3], options, part=(i, 2)) for i in range(2)]
    with pytest.raises(CorpusError, match=r"gave 3 windows .* but --examples 4 needs 4 distinct windows"):
        merge_parts(parts, options)


# -- n2g+ sampling and the held-out random text ---------------------------------------------

SAMPLING = dict(n_examples=K, context=24, batch_size=7, heldout=3, heldout_fraction=0.2, samples=4, negatives=3, reservoir=20)


@pytest.fixture(scope="module")
def sampled(model, windows):
    return mine(model, LAYERS, NEURONS, windows, MiningOptions(**SAMPLING, seed=7))


def _window_texts(mined, layer, neuron, to_str):
    extra = mined.extra(layer, neuron, to_str)
    return (
        [e.tokens for e in mined.examples(layer, neuron, to_str)],
        [e.tokens for e in extra.samples],
        [e.tokens for e in extra.negatives],
        [e.tokens for e in extra.heldout],
    )


def test_sampling_across_the_activation_range_takes_every_bin_highest_first_and_repeats_with_its_seed():
    import random

    from n2g_kb.runners.mining import sample_across_range

    candidates = [(w, s) for w, s in enumerate([0.05, 0.1, 0.15, 0.42, 0.45, 0.95, 0.97])]
    first = sample_across_range(candidates, 1.0, 4, 10, random.Random("s"))
    assert first == sample_across_range(candidates, 1.0, 4, 10, random.Random("s"))
    # one per non-empty bin per round, highest bin first: bins 9, 4, 1, 0
    assert first[0] in (5, 6) and first[1] in (3, 4) and first[2] in (1, 2) and first[3] == 0
    assert len(set(sample_across_range(candidates, 1.0, 20, 10, random.Random(1)))) == len(candidates)
    draws = {tuple(sample_across_range(candidates, 1.0, 4, 10, random.Random(seed))) for seed in range(12)}
    assert len(draws) > 1


def test_the_same_seed_mines_the_same_samples_negatives_and_held_out_text(model, windows, sampled):
    again = mine(model, LAYERS, NEURONS, windows, MiningOptions(**SAMPLING, seed=7))
    other = mine(model, LAYERS, NEURONS, windows, MiningOptions(**SAMPLING, seed=8))
    same = [_window_texts(again, 1, n, model.to_str_tokens) == _window_texts(sampled, 1, n, model.to_str_tokens) for n in NEURONS]
    assert all(same)
    assert any(_window_texts(other, 1, n, model.to_str_tokens) != _window_texts(sampled, 1, n, model.to_str_tokens) for n in NEURONS)


def test_held_out_windows_are_set_aside_from_training_and_extra_windows_are_what_they_claim(model, sampled):
    assert sampled.counts["heldout"] == 3
    for layer in LAYERS:
        for neuron in NEURONS:
            top, samples, negatives, heldout = _window_texts(sampled, layer, neuron, model.to_str_tokens)
            assert len(top) == K and len(heldout) == 3 and 0 < len(samples) <= 4 and len(negatives) <= 3
            training = top + samples + negatives
            assert not any(w in training for w in heldout)
            assert len({tuple(w) for w in training}) == len(training)
            peak = sampled.max_activation(layer, neuron)
            extra = sampled.extra(layer, neuron, model.to_str_tokens)
            assert all(max(e.activations) < 0.5 * peak for e in extra.negatives)
            assert all(max(e.activations) <= peak + 1e-5 for e in extra.samples)
    # the held-out text is the same windows for every neuron
    assert len({tuple(map(tuple, _window_texts(sampled, 0, n, model.to_str_tokens)[3])) for n in NEURONS}) == 1


def test_without_sampling_options_mining_finds_exactly_the_top_windows_as_before(model, windows, mined):
    plain = mine(model, LAYERS, NEURONS, windows, MiningOptions(n_examples=K, context=24, batch_size=7, seed=3))
    assert plain.counts == {}
    for n in NEURONS:
        assert plain.examples(1, n, model.to_str_tokens) == mined.examples(1, n, model.to_str_tokens)
        assert plain.extra(1, n, model.to_str_tokens).samples == []


def test_sampled_windows_survive_a_checkpoint_round_trip(tmp_path, model, sampled):
    path = tmp_path / "mined.pt"
    sampled.save(path)
    loaded = MinedExamples.load(path)
    assert loaded is not None and loaded.counts == sampled.counts
    assert _window_texts(loaded, 0, 17, model.to_str_tokens) == _window_texts(sampled, 0, 17, model.to_str_tokens)
