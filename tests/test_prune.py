"""Pruning: the shortest prior context that keeps the key token's activation, batched."""

from __future__ import annotations

import re
import numpy as np
import pytest
import torch

from n2g_kb.n2g.config import N2GConfig
from n2g_kb.lm.model import LoadedModel, load_model
from n2g_kb.n2g.prune import (
    PruneRequest,
    accepts,
    candidate_lengths,
    key_position,
    prune_examples,
    sentence_end,
)
from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

LAYER = 1


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(str(build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))), device="cpu")


@pytest.fixture(scope="module")
def requests(model: LoadedModel) -> list[PruneRequest]:
    """Paragraphs of the corpus (BOS first), each for a different neuron."""
    texts = synthetic_corpus(60, seed=3)
    ids = model.to_tokens_batch(texts, prepend_bos=True)
    return [PruneRequest(neuron=(7 * i) % model.d_mlp, ids=seq[:64]) for i, seq in enumerate(ids)]


def single(model: LoadedModel, ids: list[int], neuron: int) -> np.ndarray:
    return model.neuron_activations(torch.tensor([ids]), LAYER, torch.tensor([neuron]))[0].numpy()


def prune_one_at_a_time(model: LoadedModel, request: PruneRequest, config: N2GConfig) -> list[int] | None:
    """The reference procedure, one forward pass per candidate, written out plainly."""
    ids, neuron = request.ids, request.neuron
    acts = single(model, ids, neuron)
    key = 1 + int(np.argmax(acts[1:]))
    original = float(acts[key])
    if original <= 0:
        return None
    tokens = model.to_str_tokens(ids)
    end = next((i for i in range(key, len(ids)) if re.search(r"[.!\n]", tokens[i])), len(ids) - 1)
    prior = ids[1 : key + 1]
    chosen = None
    for count in range(1, len(prior) + 1):
        if count > config.prune_max_context:
            break
        if count != len(prior) and count % config.prune_step:
            continue
        candidate = [model.bos_token_id, *prior[-count:]]
        content = single(model, candidate, neuron)[1:]
        chosen = candidate
        if int(np.argmax(content)) == len(content) - 1 and content[-1] >= config.prune_threshold * original:
            break
    assert chosen is not None
    return chosen + ids[key + 1 : end + 1][: config.post_context]


def test_candidate_lengths_step_by_five_up_to_thirty_plus_the_whole_prior_context() -> None:
    assert candidate_lengths(12, 30, 5) == [5, 10, 12]
    assert candidate_lengths(10, 30, 5) == [5, 10]
    assert candidate_lengths(3, 30, 5) == [3]
    assert candidate_lengths(47, 30, 5) == [5, 10, 15, 20, 25, 30]
    assert candidate_lengths(4, 30, 1) == [1, 2, 3, 4]


def test_a_sentence_ends_at_a_full_stop_exclamation_mark_or_newline() -> None:
    tokens = ["<|endoftext|>", "The", " cat", " sat", ".", " It", " ran", "!", " Then"]
    assert sentence_end(tokens, 2) == 4
    assert sentence_end(tokens, 4) == 4
    assert sentence_end(tokens, 5) == 7
    assert sentence_end(tokens, 8) == 8
    assert sentence_end(["a", " b\n", "c"], 0) == 1


def test_a_candidate_must_keep_the_key_token_as_its_maximum_and_half_its_activation() -> None:
    assert accepts(np.array([9.0, 0.1, 0.6]), 1, original=1.0, threshold=0.5)
    assert accepts(np.array([9.0, 0.1, 0.5]), 1, original=1.0, threshold=0.5)
    assert not accepts(np.array([9.0, 0.1, 0.4]), 1, original=1.0, threshold=0.5)
    assert not accepts(np.array([0.0, 0.7, 0.6]), 1, original=1.0, threshold=0.5)
    assert key_position(np.array([5.0, 1.0, 3.0, 3.0]), 1) == 2


@pytest.mark.parametrize("step", [5, 1])
def test_batched_pruning_matches_a_one_at_a_time_implementation_of_the_reference(
    model: LoadedModel, requests: list[PruneRequest], step: int
) -> None:
    config = N2GConfig(prune_step=step, max_length=128, batch_tokens=512, max_batch_rows=8)
    pruned = prune_examples(model, LAYER, requests, config)
    matched = 0
    for request, result in zip(requests, pruned):
        expected = prune_one_at_a_time(model, request, config)
        if expected is None:
            assert result is None
            continue
        assert result is not None
        assert result.ids == expected
        matched += 1
    assert matched >= len(requests) // 2


def test_pruning_keeps_the_shortest_context_that_preserves_half_the_activation(
    model: LoadedModel, requests: list[PruneRequest]
) -> None:
    config = N2GConfig(prune_step=1, post_context=0)
    pruned = prune_examples(model, LAYER, requests, config)
    shorter_than_whole = 0
    for request, result in zip(requests, pruned):
        if result is None:
            continue
        bos, context = result.ids[0], result.ids[1:]
        assert bos == model.bos_token_id
        assert result.key_index == len(result.ids) - 1
        key = result.key_index
        # the kept context is the tail of the example's prefix that ends at its key token
        full = single(model, request.ids, request.neuron)
        full_key = 1 + int(np.argmax(full[1:]))
        assert request.ids[full_key - len(context) + 1 : full_key + 1] == context
        assert result.original_activation == pytest.approx(float(full[full_key]), abs=1e-5)
        own = single(model, result.ids, request.neuron)
        if accepts(own, 1, result.original_activation, 0.5):
            assert result.pruned_activation == pytest.approx(float(own[key]), abs=1e-5)
            for shorter in range(1, len(context)):
                candidate = [bos, *context[-shorter:]]
                assert not accepts(single(model, candidate, request.neuron), 1, result.original_activation, 0.5)
        if len(context) < full_key:
            shorter_than_whole += 1
    assert shorter_than_whole > 0


def test_pruning_drops_everything_after_the_key_sentence_and_keeps_five_post_context_tokens(
    model: LoadedModel, requests: list[PruneRequest]
) -> None:
    pruned = prune_examples(model, LAYER, requests, N2GConfig())
    cut_by_sentence = cut_by_count = 0
    for request, result in zip(requests, pruned):
        if result is None:
            continue
        tokens = model.to_str_tokens(request.ids)
        full_key = 1 + int(np.argmax(single(model, request.ids, request.neuron)[1:]))
        ends = [i for i in range(full_key, len(tokens)) if re.search(r"[.!\n]", tokens[i])]
        sentence_last = ends[0] if ends else len(tokens) - 1
        post = result.ids[result.key_index + 1 :]
        assert post == request.ids[full_key + 1 : sentence_last + 1][:5]
        cut_by_sentence += sentence_last - full_key < 5
        cut_by_count += sentence_last - full_key > 5
    assert cut_by_sentence > 0 and cut_by_count > 0


def test_the_scale_maps_the_pruned_activation_back_to_the_original(
    model: LoadedModel, requests: list[PruneRequest]
) -> None:
    for result in prune_examples(model, LAYER, requests, N2GConfig()):
        if result is not None:
            assert result.pruned_activation * result.scale == pytest.approx(result.original_activation)


def test_an_example_on_which_the_neuron_never_activates_is_not_pruned(model: LoadedModel) -> None:
    ids = model.to_tokens("The cat sat on the mat.", prepend_bos=True)
    acts = model.layer_activations(torch.tensor([ids]), [LAYER])[LAYER][0, 1:]
    silent = int(torch.argmin(acts.max(dim=0).values))
    assert float(acts[:, silent].max()) <= 0
    assert prune_examples(model, LAYER, [PruneRequest(silent, ids)], N2GConfig()) == [None]


def test_without_bos_the_pruned_prompt_is_a_plain_slice_of_the_example(
    model: LoadedModel, requests: list[PruneRequest]
) -> None:
    config = N2GConfig(prepend_bos=False)
    raw = [PruneRequest(r.neuron, r.ids[1:]) for r in requests[:12]]
    checked = 0
    for request, result in zip(raw, prune_examples(model, LAYER, raw, config)):
        if result is None:
            continue
        key = int(np.argmax(single(model, request.ids, request.neuron)))
        start = key - result.context_length + 1
        assert result.key_index == result.context_length - 1
        assert result.ids == request.ids[start : start + len(result.ids)]
        checked += 1
    assert checked > 0
