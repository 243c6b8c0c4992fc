"""Saliency: importance of token k for token j is 1 - a_j(k masked) / a_j."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2g_kb.lm.model import LoadedModel, load_model
from n2g_kb.n2g.saliency import SaliencyRequest, importance_matrix, masked_copies, saliency
from n2g_kb.testing import build_tiny_gpt2

LAYER = 1


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(str(build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))), device="cpu")


def single(model: LoadedModel, ids: list[int], neuron: int) -> np.ndarray:
    return model.neuron_activations(torch.tensor([ids]), LAYER, torch.tensor([neuron]))[0].numpy()


def by_hand(model: LoadedModel, ids: list[int], neuron: int) -> np.ndarray:
    """Every entry from its own masked forward pass and the formula, nothing skipped."""
    base = single(model, ids, neuron)
    n = len(ids)
    expected = np.zeros((n, n))
    for k in range(1, n):
        masked = list(ids)
        masked[k] = model.mask_token_id
        acts = single(model, masked, neuron)
        for j in range(n):
            if base[j] > 0:
                expected[j, k] = 1 - acts[j] / base[j]
    return expected


def test_each_masked_copy_replaces_one_position_with_the_mask_token() -> None:
    assert masked_copies([9, 1, 2, 3], rows=3, first=1, mask_token_id=0).tolist() == [[9, 0, 2], [9, 1, 0]]
    assert masked_copies([9, 1], rows=2, first=0, mask_token_id=7).tolist() == [[7, 1], [9, 7]]


def test_the_importance_matrix_is_one_minus_the_activation_ratio() -> None:
    base = np.array([5.0, 2.0, 4.0, -1.0])
    masked = np.array(
        [
            [5.0, 1.0, 1.0, 3.0],  # token 1 masked
            [5.0, 2.0, 6.0, 0.0],  # token 2 masked
            [5.0, 2.0, 4.0, 9.0],  # token 3 masked
        ]
    )
    matrix = importance_matrix(base, masked, first=1, length=5)
    assert matrix.shape == (5, 5)
    assert matrix[1, 1] == pytest.approx(0.5)
    assert matrix[2, 1] == pytest.approx(0.75)
    assert matrix[2, 2] == pytest.approx(-0.5)  # masking raised the activation
    assert matrix[1, 2] == 0  # token 2 comes after token 1: causally irrelevant
    assert not matrix[3].any()  # a_3 <= 0: never a firing token, row left empty
    assert not matrix[4].any() and not matrix[:, 0].any()  # beyond `rows`; BOS never masked


@pytest.mark.parametrize("neuron", [3, 101, 250])
def test_saliency_equals_the_formula_computed_with_explicit_masked_forwards(model: LoadedModel, neuron: int) -> None:
    ids = model.to_tokens("Mr. Smith paid $12 for the box in Paris.", prepend_bos=True)
    base = single(model, ids, neuron)
    request = SaliencyRequest(neuron, ids, base)
    [matrix] = saliency(model, LAYER, [request], mask_token_id=model.mask_token_id, skip_first=True)
    expected = by_hand(model, ids, neuron)
    lower = np.tril(np.ones_like(expected, dtype=bool))
    np.testing.assert_allclose(matrix[lower], expected[lower], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(expected[~lower], 0, atol=1e-4)  # causality, which the batch exploits
    assert not matrix[~lower].any()


def test_rows_limit_the_work_to_the_positions_asked_for(model: LoadedModel) -> None:
    ids = model.to_tokens("Alice and Bob ate grapes in Rome. The dog slept.", prepend_bos=True)
    neuron = 42
    base = single(model, ids, neuron)
    request = SaliencyRequest(neuron, ids, base)
    [full] = saliency(model, LAYER, [request], mask_token_id=model.mask_token_id, skip_first=True)
    model.stats.reset()
    [partial] = saliency(
        model, LAYER, [SaliencyRequest(neuron, ids, base, rows=5)], mask_token_id=model.mask_token_id, skip_first=True
    )
    np.testing.assert_allclose(partial[:5], full[:5], atol=1e-5)
    assert not partial[5:].any()
    assert model.stats.real_tokens == 4 * 5  # positions 1-4 masked, each copy cut to 5 tokens


def test_many_prompts_of_many_neurons_are_measured_in_one_batch(model: LoadedModel) -> None:
    texts = ["The cat sat on the mat.", "Dr. Clark lives in Vienna, Austria.", "The price of plums rose!"]
    requests = []
    for i, text in enumerate(texts):
        ids = model.to_tokens(text, prepend_bos=True)
        requests.append(SaliencyRequest(10 + i, ids, single(model, ids, 10 + i)))
    model.stats.reset()
    matrices = saliency(model, LAYER, requests, mask_token_id=model.mask_token_id, skip_first=True)
    assert model.stats.forward_calls == 1
    for request, matrix in zip(requests, matrices):
        lower = np.tril(np.ones_like(matrix, dtype=bool))
        np.testing.assert_allclose(matrix[lower], by_hand(model, request.ids, request.neuron)[lower], atol=1e-4)
