"""N2G stage 3: variants of each pruned prompt from a masked language model.

Following the reference (`Augmenter.augment` / `augment`):
  - the pruned prompt's text is split into words the reference way: every character that
    is not a letter (apostrophes excepted) is a word of its own;
  - each word that, normalised (stripped of spaces and punctuation, lower-cased), matches
    an important token, and starts before the end of the key token, is masked on its own;
  - the masked LM's most likely fillers above a probability floor (1e-5) become
    substitutes, up to `n_substitutes` per masked word, skipping fillers that normalise to
    the original word or hold no letter; a title-case original gets a title-case filler;
  - each variant text is re-tokenised with the main model's tokenizer and measured: a
    variant whose maximum activation keeps `augment_keep_threshold` of the pruned prompt's
    maximum is positive, otherwise negative. Both kinds go into the trie.
Deviations, all small: WordPiece continuation pieces ('##ing') are never used as
substitutes (the reference glued them onto the previous word); casing of a non-title-case
original is the filler's own (the reference looked it up in a corpus casing table that
is not part of the paper); identical variant texts are kept once; a masked word compares
with its own original (the reference compared fillers with the prompt's last word).

Masked-LM calls are batched across all prompts of all neurons, as is the re-measurement.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from n2g_kb.errors import ModelError
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations, best_device

Progress = Callable[[str, int, int], None]

_STRIP = " " + string.punctuation
_CANDIDATE_POOL = 64


def split_words(text: str) -> list[str]:
    """The reference word split: runs of letters and apostrophes, every other character alone."""
    words: list[str] = []
    current = ""
    for char in text:
        if char.isalpha() or char == "'":
            current += char
            continue
        if current:
            words.append(current)
            current = ""
        words.append(char)
    if current:
        words.append(current)
    return words


def normalise_word(word: str) -> str:
    """Strip surrounding spaces and punctuation and lower-case (the reference's comparison key)."""
    return word.strip(_STRIP).lower()


@dataclass(frozen=True)
class MaskedWord:
    """`text` with one word replaced by the mask token; `original` is the replaced word."""

    text: str
    original: str


def mask_important_words(text: str, important: set[str], limit: int, mask_token: str) -> list[MaskedWord]:
    """One masked copy of `text` per word that normalises into `important` and starts
    before character `limit` (the end of the key token)."""
    words = split_words(text)
    masked: list[MaskedWord] = []
    offset = 0
    for i, word in enumerate(words):
        if offset >= limit:
            break
        if any(c.isalpha() for c in word) and normalise_word(word) in important:
            masked.append(MaskedWord("".join(words[:i]) + mask_token + "".join(words[i + 1 :]), word))
        offset += len(word)
    return masked


def fill(masked: MaskedWord, mask_token: str, substitute: str) -> str:
    """The variant text: the mask replaced by `substitute`, title-cased like the original."""
    cased = substitute.title() if masked.original.istitle() else substitute
    return masked.text.replace(mask_token, cased, 1)


class Augmenter(Protocol):
    """Proposes substitutes for masked words."""

    mask_token: str

    def propose(
        self, masked: Sequence[MaskedWord], n: int, min_prob: float
    ) -> list[list[str]]: ...


class MaskedLMAugmenter:
    """Substitutes from a HuggingFace masked LM (e.g. `distilbert-base-uncased`)."""

    def __init__(self, model: Any, tokenizer: Any, device: str, batch_size: int = 64) -> None:
        if tokenizer.mask_token is None:
            raise ModelError("the masked LM's tokenizer has no mask token; use a BERT-style masked LM")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.mask_token: str = tokenizer.mask_token
        self._special = set(tokenizer.all_special_ids)
        self._decoded: dict[int, str] = {}
        self.calls = 0

    def _decode(self, token_id: int) -> str:
        if token_id not in self._decoded:
            self._decoded[token_id] = self.tokenizer.decode([token_id]).strip()
        return self._decoded[token_id]

    def _usable(self, token_id: int, original: str) -> str | None:
        if token_id in self._special:
            return None
        word = self._decode(token_id)
        if not word or word.startswith("##") or not any(c.isalpha() for c in word):
            return None
        if normalise_word(word) == normalise_word(original):
            return None
        return word

    def propose(self, masked: Sequence[MaskedWord], n: int, min_prob: float) -> list[list[str]]:
        """Up to `n` substitutes per masked text, most likely first, each above `min_prob`."""
        proposals: list[list[str]] = [[] for _ in masked]
        if n <= 0 or not masked:
            return proposals
        order = sorted(range(len(masked)), key=lambda i: len(masked[i].text))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            inputs = self.tokenizer(
                [masked[i].text for i in chunk], padding=True, truncation=True, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**inputs).logits
            self.calls += 1
            is_mask = inputs["input_ids"] == self.tokenizer.mask_token_id
            has_mask = is_mask.any(dim=1)
            position = is_mask.float().argmax(dim=1)
            rows = torch.arange(len(chunk), device=logits.device)
            probs = torch.softmax(logits[rows, position].float(), dim=-1)
            pool = min(probs.shape[-1], max(_CANDIDATE_POOL, 8 * n))
            top_probs, top_ids = probs.topk(pool, dim=-1)
            top_probs, top_ids = top_probs.cpu().numpy(), top_ids.cpu().numpy()
            for r, i in enumerate(chunk):
                if not bool(has_mask[r]):
                    continue
                proposals[i] = self._pick(top_ids[r], top_probs[r], masked[i].original, n, min_prob)
                if len(proposals[i]) < n and top_probs[r][-1] >= min_prob and pool < probs.shape[-1]:
                    full_probs, full_ids = probs[r].sort(descending=True)
                    proposals[i] = self._pick(
                        full_ids.cpu().numpy(), full_probs.cpu().numpy(), masked[i].original, n, min_prob
                    )
        return proposals

    def _pick(self, ids: np.ndarray, probs: np.ndarray, original: str, n: int, min_prob: float) -> list[str]:
        chosen: list[str] = []
        for token_id, prob in zip(ids.tolist(), probs.tolist()):
            if prob < min_prob:
                break
            word = self._usable(int(token_id), original)
            if word is not None and word not in chosen:
                chosen.append(word)
                if len(chosen) >= n:
                    break
        return chosen


def load_augmenter(name_or_path: str, device: str | None = None, batch_size: int = 64) -> MaskedLMAugmenter:
    """Load a masked LM and its tokenizer (HF name or local dir) as an augmenter."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForMaskedLM.from_pretrained(name_or_path)
    except Exception as e:  # any loader failure becomes one actionable line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"could not load masked LM {name_or_path!r} ({reason[:200]}); pass a HuggingFace masked-LM "
            "name or a local directory, or disable augmentation (augment_model=None)"
        ) from e
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
    return MaskedLMAugmenter(model, tokenizer, device or best_device(), batch_size=batch_size)


@dataclass(frozen=True)
class AugmentRequest:
    """A pruned prompt of `neuron`: `ids` (BOS first when `start` is 1), its activations
    `base`, the position of its key token and the token strings judged important."""

    neuron: int
    ids: list[int]
    base: np.ndarray
    key_index: int
    important: list[str]


@dataclass(frozen=True)
class Variant:
    """An augmented prompt: ids (BOS first when prepended), activations, and whether its
    maximum kept enough of the original's (positive) or not (negative)."""

    text: str
    ids: list[int]
    activations: np.ndarray
    positive: bool


def augment_prompts(
    model: LoadedModel,
    layer: int,
    augmenter: Augmenter,
    requests: Sequence[AugmentRequest],
    *,
    n_substitutes: int,
    min_prob: float,
    keep_threshold: float,
    prepend_bos: bool,
    max_length: int,
    batch_tokens: int = 32768,
    max_batch_rows: int = 1024,
    progress: Progress | None = None,
) -> list[list[Variant]]:
    """Variants of every request, positives first, each list in substitution order."""
    start = 1 if prepend_bos else 0
    masked: list[MaskedWord] = []
    owners: list[int] = []
    for r, request in enumerate(requests):
        important = {normalise_word(t) for t in request.important} - {""}
        if not important:
            continue
        limit = len(model.decode(request.ids[start : request.key_index + 1]))
        text = model.decode(request.ids[start:])
        for item in mask_important_words(text, important, limit, augmenter.mask_token):
            masked.append(item)
            owners.append(r)
    if progress:
        progress("augment", 0, len(masked))
    proposals = augmenter.propose(masked, n_substitutes, min_prob)
    texts: list[list[str]] = [[] for _ in requests]
    originals = [model.decode(request.ids[start:]) for request in requests]
    for item, r, substitutes in zip(masked, owners, proposals):
        for substitute in substitutes:
            variant = fill(item, augmenter.mask_token, substitute)
            if variant != originals[r] and variant not in texts[r]:
                texts[r].append(variant)
    flat = [(r, text) for r, variant_texts in enumerate(texts) for text in variant_texts]
    ids = [seq[:max_length] for seq in model.to_tokens_batch([t for _, t in flat], prepend_bos=prepend_bos)]
    acts = batched_neuron_activations(
        model,
        layer,
        ids,
        [requests[r].neuron for r, _ in flat],
        batch_tokens=batch_tokens,
        max_batch_rows=max_batch_rows,
    )
    positives: list[list[Variant]] = [[] for _ in requests]
    negatives: list[list[Variant]] = [[] for _ in requests]
    for (r, text), seq, act in zip(flat, ids, acts):
        if len(act) <= start:
            continue
        base_max = float(np.max(requests[r].base[start:]))
        positive = float(np.max(act[start:])) >= keep_threshold * base_max
        (positives if positive else negatives)[r].append(Variant(text, seq, act, positive))
    if progress:
        progress("augment", len(masked), len(masked))
    return [p + n for p, n in zip(positives, negatives)]
