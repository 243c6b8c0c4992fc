"""N2G stage 2: how much each token matters to each activating token.

The importance of token k for token j is `1 - a_j(k masked) / a_j`: replace token k by the
mask token, rerun, and see how much of token j's activation is lost. As in the reference
(`measure_importance`), values are not clipped: masking can raise an activation (negative
importance) or flip its sign (importance above 1); only the comparison with the
importance threshold matters downstream.

Savings that do not change any value the trie reads:
  - causality: masking k cannot change a_j for j < k, so those entries are exactly 0 and
    each masked copy is cut after the last row asked for (`rows`);
  - only positions j < `rows` get rows (callers ask up to the last activating token or
    the key token, whichever is later) and the BOS position is never masked (its
    importance is never used); rows of tokens with a_j <= 0 are 0, since such a token
    never seeds a pattern.
All masked copies of all requests run through `batched_neuron_activations` together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from n2g_kb.lm.model import LoadedModel, batched_neuron_activations

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SaliencyRequest:
    """Importance rows 0..rows-1 of the prompt `ids` for `neuron`, given its unmasked
    activations `base` on `ids`. `rows` None means every position."""

    neuron: int
    ids: list[int]
    base: np.ndarray
    rows: int | None = None


def masked_copies(ids: Sequence[int], rows: int, first: int, mask_token_id: int) -> np.ndarray:
    """One copy of `ids[:rows]` per position k in [first, rows), with token k masked
    (row i masks position first + i)."""
    prefix = np.asarray(ids[:rows], dtype=np.int64)
    count = max(0, rows - first)
    copies = np.tile(prefix, (count, 1))
    copies[np.arange(count), np.arange(first, first + count)] = mask_token_id
    return copies


def importance_matrix(base: np.ndarray, masked: np.ndarray, first: int, length: int) -> np.ndarray:
    """Importances [length, length], entry [j, k] = importance of token k for token j.

    `masked[i]` holds the activations over positions 0..rows-1 with token `first + i`
    masked; rows at or beyond `rows` stay 0.
    """
    matrix = np.zeros((length, length), dtype=np.float32)
    if masked.size == 0:
        return matrix
    rows = masked.shape[1]
    base_rows = base[:rows].astype(np.float64)
    positive = base_rows > 0
    safe = np.where(positive, base_rows, 1.0)
    ratio = 1.0 - masked.astype(np.float64) / safe[None, :]  # [k - first, j]
    block = ratio.T  # [j, k - first]
    ks = np.arange(first, first + masked.shape[0])[None, :]
    js = np.arange(rows)[:, None]
    block = np.where((js >= ks) & positive[:, None], block, 0.0)
    matrix[:rows, first : first + masked.shape[0]] = block
    return matrix


def saliency(
    model: LoadedModel,
    layer: int,
    requests: Sequence[SaliencyRequest],
    *,
    mask_token_id: int,
    skip_first: bool,
    batch_tokens: int = 32768,
    max_batch_rows: int = 1024,
    progress: Progress | None = None,
    stage: str = "saliency",
) -> list[np.ndarray]:
    """Importance matrices for every request, all masked copies batched together.

    `skip_first` leaves position 0 unmasked (it is the BOS token when one is prepended).
    `progress(stage, done, total)` counts distinct masked sequences run.
    """
    first = 1 if skip_first else 0
    sequences: list[np.ndarray] = []
    neurons: list[int] = []
    spans: list[tuple[int, int, int]] = []
    for request in requests:
        rows = len(request.ids) if request.rows is None else max(0, min(request.rows, len(request.ids)))
        copies = masked_copies(request.ids, rows, first, mask_token_id)
        spans.append((len(sequences), len(copies), rows))
        sequences.extend(copies)
        neurons.extend([request.neuron] * len(copies))
    on_batch = (lambda done, total: progress(stage, done, total)) if progress else None
    acts = batched_neuron_activations(
        model, layer, sequences, neurons, batch_tokens=batch_tokens, max_batch_rows=max_batch_rows, on_batch=on_batch
    )
    matrices = []
    for request, (offset, count, rows) in zip(requests, spans):
        masked = np.stack(acts[offset : offset + count]) if count else np.zeros((0, rows), dtype=np.float32)
        matrices.append(importance_matrix(np.asarray(request.base), masked, first, len(request.ids)))
    return matrices
