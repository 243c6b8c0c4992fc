"""Augmentation: masked-LM substitutes for important words, re-measured on the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from n2g_kb.n2g.augment import (
    AugmentRequest,
    MaskedLMAugmenter,
    MaskedWord,
    augment_prompts,
    fill,
    load_augmenter,
    mask_important_words,
    normalise_word,
    split_words,
)
from n2g_kb.errors import ModelError
from n2g_kb.lm.model import LoadedModel, load_model
from n2g_kb.testing import build_tiny_gpt2, build_tiny_masked_lm

LAYER = 1


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(str(build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))), device="cpu")


@pytest.fixture(scope="module")
def augmenter(tmp_path_factory: pytest.TempPathFactory) -> MaskedLMAugmenter:
    return load_augmenter(str(build_tiny_masked_lm(tmp_path_factory.mktemp("tiny-mlm"))), device="cpu")


def single(model: LoadedModel, ids: list[int], neuron: int) -> np.ndarray:
    return model.neuron_activations(torch.tensor([ids]), LAYER, torch.tensor([neuron]))[0].numpy()


def test_words_split_like_the_reference_every_non_letter_on_its_own() -> None:
    assert split_words("Mr. Smith's dog ran  $12!") == [
        "Mr", ".", " ", "Smith's", " ", "dog", " ", "ran", " ", " ", "$", "1", "2", "!"
    ]
    assert "".join(split_words(" Paris, France\n")) == " Paris, France\n"


def test_words_compare_without_spaces_punctuation_or_case() -> None:
    assert normalise_word(" Paris") == "paris"
    assert normalise_word("Smith's.") == "smith's"
    assert normalise_word(" .") == ""


def test_important_words_before_the_key_token_are_masked_one_at_a_time() -> None:
    text = "The cat sat on the mat."
    masked = mask_important_words(text, {"the", "mat"}, limit=len("The cat sat on the"), mask_token="[MASK]")
    assert masked == [
        MaskedWord("[MASK] cat sat on the mat.", "The"),
        MaskedWord("The cat sat on [MASK] mat.", "the"),
    ]  # "mat" starts after the key token: masking it cannot change the key's activation


def test_a_title_case_word_gets_a_title_case_substitute() -> None:
    masked = MaskedWord("[MASK] went home.", "Alice")
    assert fill(masked, "[MASK]", "bob") == "Bob went home."
    assert fill(MaskedWord("the [MASK] sat", "cat"), "[MASK]", "dog") == "the dog sat"


def test_a_missing_masked_lm_is_a_model_error_that_says_how_to_disable_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="augment_model=None"):
        load_augmenter(str(tmp_path / "no-such-mlm"), device="cpu")


def test_the_masked_lm_proposes_distinct_likely_words_other_than_the_original(augmenter: MaskedLMAugmenter) -> None:
    masked = [MaskedWord("the [MASK] sat on the mat.", "cat"), MaskedWord("she went to [MASK] on monday.", "paris")]
    proposals = augmenter.propose(masked, n=5, min_prob=1e-5)
    assert [len(p) for p in proposals] == [5, 5]
    vocab = augmenter.tokenizer.get_vocab()
    for item, words in zip(masked, proposals):
        assert len(set(words)) == 5
        assert item.original not in words
        assert all(any(c.isalpha() for c in w) and not w.startswith("##") and w in vocab for w in words)
    # the first proposals are the most likely fillers that pass the filters
    inputs = augmenter.tokenizer(masked[0].text, return_tensors="pt")
    with torch.inference_mode():
        logits = augmenter.model(**inputs).logits[0]
    position = int((inputs["input_ids"][0] == augmenter.tokenizer.mask_token_id).nonzero()[0, 0])
    ranked = [augmenter.tokenizer.decode([int(i)]) for i in logits[position].argsort(descending=True)]
    usable = [w for w in ranked if w.isalpha() and w != "cat" and w not in augmenter.tokenizer.all_special_tokens]
    assert proposals[0] == usable[:5]


def test_the_probability_floor_limits_the_substitutes(augmenter: MaskedLMAugmenter) -> None:
    masked = [MaskedWord("the [MASK] sat on the mat.", "cat")]
    assert augmenter.propose(masked, n=5, min_prob=0.999) == [[]]
    assert augmenter.propose(masked, n=0, min_prob=1e-5) == [[]]


def test_augmented_prompts_are_measured_and_split_into_positive_and_negative(
    model: LoadedModel, augmenter: MaskedLMAugmenter
) -> None:
    requests = []
    for neuron, text in [(5, "The cat sat on the mat."), (77, "Alice went to Paris on Monday.")]:
        ids = model.to_tokens(text, prepend_bos=True)
        base = single(model, ids, neuron)
        key = 1 + int(np.argmax(base[1:]))
        important = model.to_str_tokens(ids[1 : key + 1])
        requests.append(AugmentRequest(neuron, ids, base, key, important))
    variants = augment_prompts(
        model,
        LAYER,
        augmenter,
        requests,
        n_substitutes=3,
        min_prob=1e-5,
        keep_threshold=0.5,
        prepend_bos=True,
        max_length=64,
    )
    assert len(variants) == 2
    for request, found in zip(requests, variants):
        assert found, "every word before the key token is important here, so there are variants"
        original = model.decode(request.ids[1:])
        assert all(v.text != original for v in found)
        assert len({v.text for v in found}) == len(found)
        positives = [v.positive for v in found]
        assert positives == sorted(positives, reverse=True)  # positives first
        base_max = float(request.base[1:].max())
        for v in found:
            assert v.ids == model.to_tokens(v.text, prepend_bos=True)
            np.testing.assert_allclose(v.activations, single(model, v.ids, request.neuron), atol=1e-5)
            assert v.positive == (float(v.activations[1:].max()) >= 0.5 * base_max)


def test_a_prompt_without_important_words_gets_no_variants(model: LoadedModel, augmenter: MaskedLMAugmenter) -> None:
    ids = model.to_tokens("The cat sat.", prepend_bos=True)
    request = AugmentRequest(1, ids, single(model, ids, 1), 3, important=[".", " "])
    options = {"n_substitutes": 5, "min_prob": 1e-5, "keep_threshold": 0.5, "prepend_bos": True, "max_length": 64}
    found = augment_prompts(model, LAYER, augmenter, [request], **options)
    assert found == [[]]
