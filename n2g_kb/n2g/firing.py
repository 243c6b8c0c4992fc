"""n2g+ stage: context for every firing token of a training window, not only the key token.

The paper learns context only around each top example's most activating (key) token. With
`N2GConfig.all_firing`, every other position whose normalised activation is above the
activation threshold gets a short prompt of its own: the `firing_context` tokens ending at
it (BOS first when prepended), the fixed-length counterpart of pruning. Importances on it
come from the same batched saliency pass as the pruned prompts (one masked copy per
position; identical prompts of several positions or neurons run once), and the prompt's
last row becomes a pattern for that firing token, with the activation the token had in
its full window.

At most `firing_positions` prompts per neuron are made, highest activations first, so the
cost per neuron stays bounded whatever the neuron's density.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FiringPrompt:
    """The prompt of one firing token: `ids` end with it; `activation` is its normalised
    activation in its full window."""

    ids: list[int]
    activation: float


def firing_prompts(
    windows: Sequence[Sequence[int]],
    normalised: Sequence[Sequence[float]],
    skip: Sequence[int | None],
    *,
    prefix: Sequence[int],
    threshold: float,
    context: int,
    limit: int,
) -> list[FiringPrompt]:
    """Prompts for the firing positions of one neuron's training windows.

    `windows[i]` are a window's token ids without BOS, `normalised[i]` the neuron's
    normalised activations on them; position `skip[i]` (the key token the paper pipeline
    already covers) is left out. Positions with activation > `threshold` are taken, highest
    first, up to `limit`; ties keep window order.
    """
    found: list[tuple[float, int, int]] = []
    for i, (ids, acts) in enumerate(zip(windows, normalised, strict=True)):
        values = np.asarray(acts, dtype=np.float64)[: len(ids)]
        for j in np.nonzero(values > threshold)[0].tolist():
            if j != skip[i]:
                found.append((-float(values[j]), i, j))
    found.sort()
    prompts = []
    for negative, i, j in found[: max(0, limit)]:
        start = max(0, j - context + 1)
        prompts.append(FiringPrompt(list(prefix) + list(windows[i][start : j + 1]), -negative))
    return prompts
