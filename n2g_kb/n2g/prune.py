"""N2G stage 1: prune each example to the context its key token needs.

For an example's key token (its most activating token), the reference implementation
(`prune` in Foote et al.'s N2G):
  1. drops everything after the key token's sentence (a sentence ends at a token
     containing '.', '!' or a newline);
  2. tries suffixes of the prior context ending at the key token, shortest first, in
     lengths that are multiples of `prune_step` (5) up to `prune_max_context` (30), plus
     the whole prior context; each is run on its own (BOS-prefixed);
  3. keeps the first suffix on which the key token is still the most activating token and
     keeps at least `prune_threshold` of its original activation, else the longest tried;
  4. appends up to `post_context` (5) tokens that follow the key token in its sentence.
The pruned prompt's activations are later rescaled by `original / pruned` (`scale`).

This module works on token ids, so nothing is re-tokenised, and it batches across any
number of (neuron, example) pairs: all full examples in one batched pass, then rounds of
candidate suffixes for the examples still unresolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from n2g_kb.n2g.config import N2GConfig
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations

SENTENCE_END = re.compile(r"[.!\n]")
_CANDIDATES_PER_ROUND = 2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PruneRequest:
    """One example of one neuron: its token ids, BOS first when the config prepends one."""

    neuron: int
    ids: list[int]


@dataclass(frozen=True)
class Pruned:
    """A pruned prompt: `ids` (BOS first when prepended) = kept prior context, ending with the
    key token at `key_index`, then the post-context."""

    ids: list[int]
    key_index: int
    original_activation: float
    pruned_activation: float
    context_length: int

    @property
    def scale(self) -> float:
        """Factor that maps the pruned prompt's activations back to the full example's."""
        if self.pruned_activation <= 0:
            return 1.0
        return self.original_activation / self.pruned_activation


def key_position(activations: np.ndarray, start: int) -> int:
    """Index of the most activating token at or after `start` (first one on ties)."""
    return start + int(np.argmax(activations[start:]))


def sentence_end(str_tokens: Sequence[str], index: int) -> int:
    """Index of the last token of the sentence that contains `index`."""
    for i in range(index, len(str_tokens)):
        if SENTENCE_END.search(str_tokens[i]):
            return i
    return len(str_tokens) - 1


def candidate_lengths(prior_length: int, max_context: int, step: int) -> list[int]:
    """Prior-context lengths to try, shortest first (key token included in each length)."""
    lengths = [n for n in range(step, min(prior_length, max_context) + 1, step)]
    if prior_length <= max_context and prior_length not in lengths:
        lengths.append(prior_length)
    return lengths or [min(prior_length, max_context)]


def accepts(activations: np.ndarray, start: int, original: float, threshold: float) -> bool:
    """A candidate works when its last token is its most activating one and keeps
    `threshold` of the original activation."""
    content = activations[start:]
    return int(np.argmax(content)) == len(content) - 1 and float(content[-1]) >= threshold * original


@dataclass
class _Pending:
    request: PruneRequest
    key: int
    original: float
    lengths: list[int]
    post: list[int]
    tried: int = 0
    chosen: tuple[int, float] | None = None  # (length, max activation over content)
    longest: tuple[int, float] | None = None  # the longest candidate measured so far
    whole: tuple[int, float] | None = None  # the whole prior context, measured for free


def prune_examples(
    model: LoadedModel,
    layer: int,
    requests: Sequence[PruneRequest],
    config: N2GConfig,
    progress: Progress | None = None,
) -> list[Pruned | None]:
    """Prune every request; None where the example never activates its neuron (max <= 0)."""
    start = 1 if config.prepend_bos else 0
    prefix = [model.bos_token_id] if config.prepend_bos else []
    batch = {"batch_tokens": config.batch_tokens, "max_batch_rows": config.max_batch_rows}
    full = batched_neuron_activations(
        model, layer, [r.ids for r in requests], [r.neuron for r in requests], **batch
    )
    pending: dict[int, _Pending] = {}
    results: list[Pruned | None] = [None] * len(requests)
    for i, (request, acts) in enumerate(zip(requests, full)):
        if len(acts) <= start:
            continue
        key = key_position(acts, start)
        original = float(acts[key])
        if original <= 0:
            continue
        str_tokens = model.to_str_tokens(request.ids)
        end = sentence_end(str_tokens, key)
        post = request.ids[key + 1 : end + 1][: config.post_context]
        lengths = candidate_lengths(key - start + 1, config.prune_max_context, config.prune_step)
        item = _Pending(request, key, original, lengths, post)
        pending[i] = item
        # The whole prior context is the example's own prefix: causal, so its activations
        # are already known and need no forward pass. Being the longest candidate, it is
        # chosen whether or not it passes when every shorter one fails.
        if lengths[-1] == key - start + 1:
            item.lengths = lengths[:-1]
            item.whole = (lengths[-1], float(np.max(acts[start : key + 1])))
    total = len(pending)
    if progress:
        progress("prune", 0, total)
    unresolved = dict(pending)
    while unresolved:
        sequences: list[list[int]] = []
        neurons: list[int] = []
        owners: list[tuple[int, int]] = []
        for i, item in unresolved.items():
            for length in item.lengths[item.tried : item.tried + _CANDIDATES_PER_ROUND]:
                seq = prefix + item.request.ids[item.key - length + 1 : item.key + 1]
                sequences.append(seq)
                neurons.append(item.request.neuron)
                owners.append((i, length))
        acts_list = batched_neuron_activations(model, layer, sequences, neurons, **batch)
        by_owner: dict[int, list[tuple[int, np.ndarray]]] = {}
        for (i, length), acts in zip(owners, acts_list):
            by_owner.setdefault(i, []).append((length, acts))
        for i, item in list(unresolved.items()):
            for length, acts in by_owner.get(i, []):
                item.tried += 1
                measured = (length, float(np.max(acts[start:])))
                if accepts(acts, start, item.original, config.prune_threshold):
                    item.chosen = measured
                    break
                item.longest = measured
            if item.chosen is None and item.tried >= len(item.lengths):
                item.chosen = item.whole or item.longest
            if item.chosen is not None:
                del unresolved[i]
                if progress:
                    progress("prune", total - len(unresolved), total)
    for i, item in pending.items():
        assert item.chosen is not None
        length, pruned_max = item.chosen
        context = item.request.ids[item.key - length + 1 : item.key + 1]
        results[i] = Pruned(
            ids=prefix + context + item.post,
            key_index=len(prefix) + length - 1,
            original_activation=item.original,
            pruned_activation=pruned_max,
            context_length=length,
        )
    return results
