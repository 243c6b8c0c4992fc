"""Example mining: one pass over a corpus finds every chosen neuron's top-k windows.

The corpus arrives as fixed windows of token ids (`n2g_kb.runners.corpus.token_windows`); each
is scored with its BOS token first (when the config prepends one, as N2G's prompts do).
For a batch of windows, one forward pass captures every chosen layer at once; each
neuron's score for a window is its maximum activation over the window's real positions,
the BOS position excluded (its activations are an artefact of the first position, and
N2G never treats BOS as a firing token). Per layer, one running top-k over all neurons
(`[k, neurons]` on the model's device, merged with `torch.topk`) keeps the k best
distinct windows of every neuron; its first row is the neuron's maximum activation over
the corpus.

Beyond the top k, the same pass can set text aside and sample more (all seeded, so the
same corpus and seed give the same windows; single pass only: a pass over corpus parts,
`part=`, finds the top k only):
  - held-out random text (`heldout`): each window draws a uniform number u from a seeded
    generator; windows with u < `heldout_fraction` are set aside (they enter no top k and
    no sample, and the max activation is taken over the other windows), and the first
    `heldout` of them are kept to score every neuron on ordinary text;
  - a reservoir of `reservoir` other windows (the smallest u), a uniform random sample
    of the training text shared by all neurons, with every neuron's score on each;
  - per neuron, `samples` windows across the activation range: candidates are its windows
    ranked just below the top k (down to `4 x n_examples`) and the reservoir; they are
    binned by score / max activation into `sample_bins` equal bins and drawn round-robin
    from the non-empty bins, highest first, at random within a bin
    (`random.Random(f"{seed}:{layer}:{neuron}")`);
  - per neuron, `negatives` reservoir windows whose score stays below `fire_threshold` of
    its max (text it does not fire on), drawn at random.
A second, short pass reruns only the windows that made some neuron's top k (or were
sampled or held out) and gathers each neuron's activations over its windows, so `MinedExamples.examples` can hand
extraction real `Example`s (tokens and raw activations). The result saves to one file
(`save` / `load`) so a resumed ingest does not mine again.
"""

from __future__ import annotations

import os
import queue
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor

from n2g_kb.errors import ConfigError, CorpusError
from n2g_kb.faults import fault_point
from n2g_kb.lm.model import LoadedModel
from n2g_kb.n2g.results import Example, ExtraExamples

Progress = Callable[[str, int, int], None]
_FORMAT = 2
_POOL_DEPTH = 4  # sampling candidates come from the top (this x n_examples) windows


@dataclass(frozen=True)
class MiningOptions:
    """How to mine: `n_examples` windows per neuron, windows of `context` corpus tokens
    (plus BOS when `prepend_bos`), at most `max_tokens` corpus tokens, `batch_size` windows
    per forward pass. `heldout`, `heldout_fraction`, `reservoir`, `samples`, `sample_bins`,
    `negatives`, `fire_threshold` and `seed` set text aside and sample more (module
    docstring); with their defaults (0) the pass finds the top k only."""

    n_examples: int = 20
    context: int = 64
    max_tokens: int | None = 2_000_000
    batch_size: int = 32
    prepend_bos: bool = True
    heldout: int = 0
    heldout_fraction: float = 0.05
    reservoir: int = 256
    samples: int = 0
    sample_bins: int = 10
    negatives: int = 0
    fire_threshold: float = 0.5
    seed: int = 0

    @property
    def sampling(self) -> bool:
        return self.samples > 0 or self.negatives > 0

    def __post_init__(self) -> None:
        if self.n_examples < 1:
            raise ConfigError(f"--examples {self.n_examples} is too small; use at least 2 (one train, one test)")
        if self.context < 2:
            raise ConfigError(f"--context {self.context} is too small; use at least 2 tokens (e.g. 64)")
        if self.max_tokens is not None and self.max_tokens < self.context:
            raise ConfigError(f"--max-tokens {self.max_tokens} is below one window of {self.context} tokens; raise it")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} is too small; use 1 or more windows per batch")
        if self.heldout < 0 or self.samples < 0 or self.negatives < 0:
            raise ConfigError("held-out, sampled and negative window counts must be 0 or more")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError(f"held-out fraction {self.heldout_fraction} is invalid; use a fraction in (0, 1), e.g. 0.05")
        if self.reservoir < 1 or self.sample_bins < 1:
            raise ConfigError("the sampling reservoir and the number of sample bins must be 1 or more")


@dataclass
class MinedLayer:
    """Top windows of the chosen neurons of one layer.

    `max_activations[i]` is neuron `neurons[i]`'s maximum over the corpus;
    `window_index[i, r]` its r-th best window (an index into `MinedExamples.windows`,
    best first) and `activations[i, r]` its raw activations over that window's positions.
    `scores[i, r]` is that window's score (None in checkpoints from before it was kept);
    merging corpus parts orders by it.
    """

    layer: int
    neurons: list[int]
    max_activations: Float[Tensor, " neuron"]
    window_index: Int[Tensor, "neuron k"]
    activations: Float[Tensor, "neuron k pos"]
    scores: Float[Tensor, "neuron k"] | None = None
    _rows: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rows = {n: i for i, n in enumerate(self.neurons)}

    def row(self, neuron: int) -> int:
        """Row of `neuron` in this layer's tensors."""
        if neuron not in self._rows:
            raise KeyError(f"neuron {neuron} of layer {self.layer} was not mined")
        return self._rows[neuron]


@dataclass
class MinedExamples:
    """The windows that made some neuron's top k, and each layer's `MinedLayer`.

    `windows[w, :lengths[w]]` are the token ids of window w (BOS first when `prepend_bos`),
    `window_ids[w]` its position in the corpus's stream of windows.
    `n_tokens` counts the tokens the pass scored, `n_windows` the windows of the stream
    (for one part of a corpus: all of them, scored or not).
    """

    windows: Int[Tensor, "window pos"]
    lengths: Int[Tensor, " window"]
    layers: dict[int, MinedLayer]
    n_tokens: int
    n_windows: int
    prepend_bos: bool = True
    meta: dict = field(default_factory=dict)
    window_ids: Int[Tensor, " window"] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """Columns of each layer's `window_index` after the top k: "samples", "negatives",
    "heldout" (in that order; -1 where a neuron has fewer)."""

    def _span(self, kind: str) -> tuple[int, int]:
        width = next(iter(self.layers.values())).window_index.shape[1] if self.layers else 0
        order = ("samples", "negatives", "heldout")
        extra = sum(self.counts.get(k, 0) for k in order)
        start = width - extra
        for k in order:
            if k == kind:
                return start, start + self.counts.get(k, 0)
            start += self.counts.get(k, 0)
        return 0, width - extra  # "top"

    def max_activation(self, layer: int, neuron: int) -> float:
        mined = self.layers[layer]
        return float(mined.max_activations[mined.row(neuron)])

    def max_activations(self, layer: int, neurons: Iterable[int]) -> dict[int, float]:
        return {n: self.max_activation(layer, n) for n in neurons}

    @property
    def first(self) -> int:
        """Position of the first corpus token in a window (1 after a prepended BOS)."""
        return 1 if self.prepend_bos else 0

    def window_ids(self, layer: int, neuron: int) -> list[list[int]]:
        """The corpus token ids of the neuron's windows (no BOS), best first."""
        mined = self.layers[layer]
        lo, hi = self._span("top")
        return [
            self.windows[w, self.first : int(self.lengths[w])].tolist()
            for w in mined.window_index[mined.row(neuron), lo:hi].tolist()
        ]

    def examples(self, layer: int, neuron: int, to_str_tokens: Callable[[Sequence[int]], list[str]]) -> list[Example]:
        """The neuron's examples, best first: each window's corpus tokens as the model
        decodes them and the neuron's raw activations on them, measured with BOS
        prepended (when `prepend_bos`) but without the BOS position itself, as N2G's
        extraction prepends BOS again when it reruns an example."""
        return self._examples(layer, neuron, to_str_tokens, "top")

    def extra(self, layer: int, neuron: int, to_str_tokens: Callable[[Sequence[int]], list[str]]) -> ExtraExamples:
        """The neuron's sampled, negative and held-out windows (empty lists when the pass
        kept none), as `examples` gives its top ones."""
        return ExtraExamples(
            samples=self._examples(layer, neuron, to_str_tokens, "samples"),
            negatives=self._examples(layer, neuron, to_str_tokens, "negatives"),
            heldout=self._examples(layer, neuron, to_str_tokens, "heldout"),
        )

    def _examples(self, layer: int, neuron: int, to_str_tokens: Callable[[Sequence[int]], list[str]], kind: str) -> list[Example]:
        mined = self.layers[layer]
        row = mined.row(neuron)
        lo, hi = self._span(kind)
        out = []
        for r in range(lo, hi):
            w = int(mined.window_index[row, r])
            if w < 0:
                continue
            length = int(self.lengths[w])
            ids = self.windows[w, self.first : length].tolist()
            acts = mined.activations[row, r, self.first : length].tolist()
            out.append(Example(tokens=to_str_tokens(ids), activations=acts, ids=ids))
        return out


    # -- checkpoint ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Writes the mined examples to `path` atomically (a temp file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "windows": self.windows,
            "lengths": self.lengths,
            "n_tokens": self.n_tokens,
            "n_windows": self.n_windows,
            "prepend_bos": self.prepend_bos,
            "meta": dict(self.meta),
            "window_ids": self.window_ids,
            "counts": dict(self.counts),
            "layers": {
                str(layer): {
                    "neurons": list(m.neurons),
                    "max_activations": m.max_activations,
                    "window_index": m.window_index,
                    "activations": m.activations,
                    "scores": m.scores,
                }
                for layer, m in self.layers.items()
            },
        }
        _remove_stale_temps(path)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        torch.save(payload, tmp)
        fault_point("checkpoint-save")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> MinedExamples | None:
        """The mined examples saved at `path`, or None when there is no usable file."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # a truncated or foreign file is a cache miss, not an error
            return None
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            return None
        layers = {
            int(layer): MinedLayer(
                layer=int(layer),
                neurons=[int(n) for n in m["neurons"]],
                max_activations=m["max_activations"],
                window_index=m["window_index"],
                activations=m["activations"],
                scores=m.get("scores"),
            )
            for layer, m in payload["layers"].items()
        }
        return cls(
            windows=payload["windows"],
            lengths=payload["lengths"],
            layers=layers,
            n_tokens=int(payload["n_tokens"]),
            n_windows=int(payload["n_windows"]),
            prepend_bos=bool(payload["prepend_bos"]),
            meta=dict(payload.get("meta") or {}),
            window_ids=payload.get("window_ids"),
            counts={str(k): int(v) for k, v in (payload.get("counts") or {}).items()},
        )


def _remove_stale_temps(path: Path) -> None:
    """Deletes `<path>.tmp<pid>` files left by a save that was killed (its pid is gone)."""
    from n2g_kb.kb.localdb import pid_alive

    for tmp in path.parent.glob(path.name + ".tmp*"):
        pid = tmp.name[len(path.name) + 4 :]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)



class RunningTopK:
    """The k highest window scores of every neuron of one layer, with their window ids.

    Lives on the model's device; `update` merges a batch of scores with one stable sort.
    The order is total: higher score first, and among equal scores the lower window id
    first (the kept rows all precede the new batch, whose ids rise). A neuron's top k is
    therefore a function of its own column alone, and the top k of a corpus is exactly
    the top k of the union of its parts' top ks (`merge_parts`).
    """

    def __init__(self, k: int, n_neurons: int, device: torch.device | str) -> None:
        self.k = k
        self.values = torch.full((k, n_neurons), float("-inf"), device=device)
        self.ids = torch.full((k, n_neurons), -1, dtype=torch.long, device=device)

    def update(self, scores: Float[Tensor, "batch neuron"], window_ids: Int[Tensor, " batch"]) -> None:
        ids = window_ids.to(self.ids.device).unsqueeze(1).expand(-1, scores.shape[1])
        values = torch.cat([self.values, scores.float()], dim=0)
        all_ids = torch.cat([self.ids, ids], dim=0)
        order = torch.sort(values, dim=0, descending=True, stable=True)
        self.values = order.values[: self.k]
        self.ids = torch.gather(all_ids, 0, order.indices[: self.k])


def window_scores(
    acts: Float[Tensor, "batch pos neuron"], lengths: Int[Tensor, " batch"], first: int
) -> Float[Tensor, "batch neuron"]:
    """Each window's maximum activation per neuron over positions first..length-1."""
    positions = torch.arange(acts.shape[1], device=acts.device)
    valid = (positions.unsqueeze(0) >= first) & (positions.unsqueeze(0) < lengths.to(acts.device).unsqueeze(1))
    masked = acts.float().masked_fill(~valid.unsqueeze(2), float("-inf"))
    return masked.max(dim=1).values


def _pad(windows: Sequence[Sequence[int]], prefix: list[int], pad_id: int) -> tuple[Tensor, Tensor]:
    width = max(len(w) for w in windows) + len(prefix)
    tokens = torch.full((len(windows), width), pad_id, dtype=torch.long)
    lengths = torch.empty(len(windows), dtype=torch.long)
    for i, w in enumerate(windows):
        row = prefix + list(w)
        tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        lengths[i] = len(row)
    return tokens, lengths


def mine(
    model: LoadedModel,
    layers: Sequence[int],
    neurons: Sequence[int],
    windows: Iterable[Sequence[int]],
    options: MiningOptions,
    progress: Progress | None = None,
    expected_tokens: int | None = None,
    part: tuple[int, int] | None = None,
) -> MinedExamples:
    """Top-`n_examples` windows and the maximum activation of `neurons` in every layer of
    `layers`, in one pass over `windows` (token ids without BOS).

    `part=(i, n)` scores only part i (0-based) of n of the corpus: the batches b of
    `batch_size` windows with b % n == i, so every batch is the very batch a single pass
    runs; window ids stay positions in the whole stream. `merge_parts` combines the n
    parts into exactly the result of one pass.

    Raises `CorpusError` when the windows hold no tokens or fewer windows than examples
    (for a part, `merge_parts` checks the whole corpus instead).
    """
    layers = sorted(set(layers))
    neuron_idx = torch.tensor(list(neurons), dtype=torch.long)
    device = torch.device(model.device)
    prefix = [model.bos_token_id] if options.prepend_bos else []
    first = len(prefix)
    k = options.n_examples
    sampling = part is None  # a pass over corpus parts finds the top k only
    depth = k * _POOL_DEPTH if sampling and options.samples > 0 else k
    tops = {layer: RunningTopK(depth, len(neurons), device) for layer in layers}
    draws = torch.Generator().manual_seed(options.seed)
    heldout: list[int] = []
    reservoir = _Reservoir(options.reservoir, layers) if sampling and options.sampling else None
    every_neuron = list(neurons) == list(range(model.d_mlp))
    kept: list[Tensor] = []  # every scored window's ids, CPU, padded to the context length
    kept_lengths: list[Tensor] = []
    kept_ids: list[Tensor] = []
    n_tokens = 0
    n_windows = 0
    n_batches = 0
    total = options.max_tokens if expected_tokens is None else min(expected_tokens, options.max_tokens or expected_tokens)
    if progress:
        progress("mine", 0, total or 0)

    def flush(batch: list[Sequence[int]]) -> None:
        nonlocal n_tokens, n_windows, n_batches
        n_batches += 1
        if part is not None and (n_batches - 1) % part[1] != part[0]:
            n_windows += len(batch)  # another part's batch: its ids are taken all the same
            return
        tokens, lengths = _pad(batch, prefix, model.pad_token_id)
        acts = model.layer_activations(tokens, layers, units=None if every_neuron else neuron_idx)
        ids = torch.arange(n_windows, n_windows + len(batch))
        u = torch.rand(len(batch), generator=draws)
        aside = u < options.heldout_fraction if sampling and options.heldout > 0 else torch.zeros(len(batch), dtype=torch.bool)
        heldout.extend(ids[aside].tolist()[: max(0, options.heldout - len(heldout))])
        by_layer = {}
        for layer in layers:
            scores = window_scores(acts[layer], lengths, first)
            if aside.any():
                scores = scores.masked_fill(aside.to(scores.device).unsqueeze(1), float("-inf"))
            tops[layer].update(scores, ids)
            by_layer[layer] = scores
        if reservoir is not None and (~aside).any():
            keep = ~aside
            reservoir.update(u[keep], ids[keep], {layer: v[keep.to(v.device)] for layer, v in by_layer.items()})
        row = torch.full((len(batch), options.context + first), model.pad_token_id, dtype=torch.int32)
        row[:, : tokens.shape[1]] = tokens
        kept.append(row)
        kept_lengths.append(lengths)
        kept_ids.append(ids)
        n_windows += len(batch)
        n_tokens += int((lengths - first).sum())
        fault_point("mine-batch")
        if progress:
            progress("mine", n_tokens, max(total or 0, n_tokens))

    batch: list[Sequence[int]] = []
    for window in windows:
        if len(window) > options.context:
            raise ValueError(f"window of {len(window)} tokens is longer than the context {options.context}")
        batch.append(window)
        if len(batch) == options.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    if progress:
        progress("mine", n_tokens, n_tokens)
    if part is not None and not kept:
        return _empty_part(layers, list(neurons), k, options.context + first, n_windows, options.prepend_bos)
    if part is None:
        _check_enough(n_tokens, n_windows, options)
    all_windows = torch.cat(kept)
    all_lengths = torch.cat(kept_lengths)
    all_ids = torch.cat(kept_ids)
    chosen = {layer: _choose(tops[layer], reservoir, layer, list(neurons), options) for layer in layers}
    return _collect(
        model, layers, list(neurons), chosen, heldout, all_windows, all_lengths, all_ids, options, n_tokens, n_windows, progress
    )


def _check_enough(n_tokens: int, n_windows: int, options: MiningOptions) -> None:
    k = options.n_examples
    if n_tokens == 0:
        raise CorpusError("the corpus has no text to mine; pass a corpus with text in it")
    if n_windows < k:
        raise CorpusError(
            f"the corpus gave {n_windows} windows of up to {options.context} tokens ({n_tokens} tokens) but "
            f"--examples {k} needs {k} distinct windows per neuron; pass a longer corpus or a higher --max-tokens, "
            "or lower --examples or --context"
        )


class _Reservoir:
    """The `size` windows with the smallest draws seen so far (a uniform random sample,
    the same for every neuron) and every layer's neuron scores on them."""

    def __init__(self, size: int, layers: Sequence[int]) -> None:
        self.size = size
        self.draws = torch.empty(0)
        self.ids = torch.empty(0, dtype=torch.long)
        self.scores: dict[int, Tensor] = {layer: torch.empty(0) for layer in layers}

    def update(self, draws: Tensor, ids: Tensor, scores: dict[int, Tensor]) -> None:
        all_draws = torch.cat([self.draws, draws])
        order = torch.argsort(all_draws, stable=True)[: self.size]
        self.draws = all_draws[order]
        self.ids = torch.cat([self.ids, ids])[order]
        for layer, values in scores.items():
            values = values.float().cpu()
            old = self.scores[layer] if self.scores[layer].numel() else values[:0]
            self.scores[layer] = torch.cat([old, values])[order]


def sample_across_range(
    candidates: Sequence[tuple[int, float]], max_activation: float, n: int, bins: int, rng: random.Random
) -> list[int]:
    """`n` window ids from `candidates` (id, score), spread over `bins` equal bins of
    score / `max_activation`: one per non-empty bin per round, highest bin first, at
    random within a bin."""
    if n <= 0 or max_activation <= 0:
        return []
    binned: dict[int, list[int]] = {}
    for window, score in candidates:
        b = min(bins - 1, max(0, int(bins * score / max_activation)))
        binned.setdefault(b, []).append(window)
    for members in binned.values():
        rng.shuffle(members)
    chosen: list[int] = []
    while len(chosen) < n and any(binned.values()):
        for b in sorted(binned, reverse=True):
            if binned[b] and len(chosen) < n:
                chosen.append(binned[b].pop())
    return chosen


def _choose(
    top: RunningTopK, reservoir: _Reservoir | None, layer: int, neurons: list[int], options: MiningOptions
) -> tuple[Tensor, Tensor, Tensor]:
    """Per neuron: its top-k window ids, then (with a reservoir) its samples and negatives
    (-1 where fewer), as one [neuron, columns] tensor; the max activations; and each
    column's score (-inf for the sampled columns, which `merge_parts` never sees)."""
    k = options.n_examples
    values, ids = top.values.cpu(), top.ids.cpu()
    maxima = values[0].float()
    width = k + (options.samples + options.negatives if reservoir is not None else 0)
    chosen = torch.full((len(neurons), width), -1, dtype=torch.long)
    chosen[:, :k] = ids[:k].T
    scores = torch.full((len(neurons), width), float("-inf"))
    scores[:, :k] = values[:k].T.float()
    if reservoir is None:
        return chosen, maxima, scores
    res_ids = reservoir.ids.tolist()
    res_scores = reservoir.scores[layer]
    for c, neuron in enumerate(neurons):
        rng = random.Random(f"{options.seed}:{layer}:{neuron}")
        taken = set(ids[:k, c].tolist())
        peak = float(maxima[c])
        pool: dict[int, float] = {}
        for window, score in zip(ids[k:, c].tolist(), values[k:, c].tolist()):
            if window >= 0 and score > float("-inf") and window not in taken:
                pool[window] = score
        column = res_scores[:, c].tolist() if res_scores.numel() else []
        for window, score in zip(res_ids, column):
            if window not in taken:
                pool.setdefault(window, score)
        samples = sample_across_range(sorted(pool.items()), peak, options.samples, options.sample_bins, rng)
        quiet = [w for w, score in zip(res_ids, column) if w not in taken and w not in samples and score < options.fire_threshold * peak]
        rng.shuffle(quiet)
        negatives = quiet[: options.negatives]
        chosen[c, k : k + len(samples)] = torch.tensor(samples, dtype=torch.long)
        start = k + options.samples
        chosen[c, start : start + len(negatives)] = torch.tensor(negatives, dtype=torch.long)
    return chosen, maxima, scores


def _collect(
    model: LoadedModel,
    layers: list[int],
    neurons: list[int],
    chosen: dict[int, tuple[Tensor, Tensor, Tensor]],
    heldout: list[int],
    all_windows: Tensor,
    all_lengths: Tensor,
    all_ids: Tensor,
    options: MiningOptions,
    n_tokens: int,
    n_windows: int,
    progress: Progress | None,
) -> MinedExamples:
    """Reruns the windows that made some top k (or were sampled or held out) and gathers
    each neuron's activations over them."""
    device = torch.device(model.device)
    aside = torch.tensor(heldout, dtype=torch.long).unsqueeze(0).expand(len(neurons), -1)
    ids_by_layer = {layer: torch.cat([chosen[layer][0], aside], dim=1) for layer in layers}  # [neuron, columns]
    used = torch.unique(torch.cat([ids.reshape(-1) for ids in ids_by_layer.values()]))
    used = used[used >= 0]  # -1: no window (a corpus part with fewer than k windows, or fewer samples)
    rows = torch.searchsorted(all_ids, used)  # `all_ids` rise: the scored windows in stream order
    windows = all_windows[rows]  # int32 on CPU: half the memory of int64
    lengths = all_lengths[rows]
    local = {
        layer: torch.where(ids >= 0, torch.searchsorted(used, ids.clamp(min=0)), torch.full_like(ids, -1))
        for layer, ids in ids_by_layer.items()
    }  # into `windows`
    width = windows.shape[1]
    k = next(iter(ids_by_layer.values())).shape[1]
    out = {layer: torch.zeros((len(neurons), k, width), dtype=torch.float32) for layer in layers}
    neuron_idx = torch.tensor(neurons, dtype=torch.long)
    units = None if neurons == list(range(model.d_mlp)) else neuron_idx
    columns = neuron_idx if units is None else torch.arange(len(neurons))  # unit -> column of the capture
    step = max(1, options.batch_size)
    if progress:
        progress("collect", 0, len(used))
    for start in range(0, len(used), step):
        stop = min(start + step, len(used))
        batch_width = int(lengths[start:stop].max())
        acts = model.layer_activations(windows[start:stop, :batch_width].long(), layers, units=units)
        for layer in layers:
            where = (local[layer] >= start) & (local[layer] < stop)
            rows, ranks = where.nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            in_batch = (local[layer][rows, ranks] - start).to(device)
            gathered = acts[layer][in_batch, :, columns[rows].to(device)]  # [m, batch_width]
            out[layer][rows, ranks, :batch_width] = gathered.float().cpu()
        if progress:
            progress("collect", stop, len(used))
    mined_layers = {
        layer: MinedLayer(
            layer=layer,
            neurons=list(neurons),
            max_activations=chosen[layer][1],
            window_index=local[layer],
            activations=out[layer],
            scores=chosen[layer][2],
        )
        for layer in layers
    }
    return MinedExamples(
        windows=windows,
        lengths=lengths,
        layers=mined_layers,
        n_tokens=n_tokens,
        n_windows=n_windows,
        prepend_bos=options.prepend_bos,
        window_ids=used,
        counts=_counts(chosen, heldout, options),
    )


def _counts(chosen: dict[int, tuple[Tensor, Tensor, Tensor]], heldout: list[int], options: MiningOptions) -> dict[str, int]:
    """`MinedExamples.counts` for the columns `_choose` and the held-out text made."""
    sampled = next(iter(chosen.values()))[0].shape[1] > options.n_examples
    if not sampled and not heldout:
        return {}
    return {
        "samples": options.samples if sampled else 0,
        "negatives": options.negatives if sampled else 0,
        "heldout": len(heldout),
    }


def _empty_part(layers: list[int], neurons: list[int], k: int, width: int, n_windows: int, prepend_bos: bool) -> MinedExamples:
    """A corpus part that scored no window (more parts than batches)."""
    n = len(neurons)
    mined_layers = {
        layer: MinedLayer(
            layer=layer,
            neurons=list(neurons),
            max_activations=torch.full((n,), float("-inf")),
            window_index=torch.zeros((n, k), dtype=torch.long),
            activations=torch.zeros((n, k, width)),
            scores=torch.full((n, k), float("-inf")),
        )
        for layer in layers
    }
    return MinedExamples(
        windows=torch.zeros((0, width), dtype=torch.int32),
        lengths=torch.zeros(0, dtype=torch.long),
        layers=mined_layers,
        n_tokens=0,
        n_windows=n_windows,
        prepend_bos=prepend_bos,
        window_ids=torch.zeros(0, dtype=torch.long),
    )


def merge_parts(parts: Sequence[MinedExamples], options: MiningOptions) -> MinedExamples:
    """The mined examples of a whole corpus from those of its parts (`mine(part=...)`).

    Exact: per neuron, the candidates of all parts are ordered as `RunningTopK` orders
    them (score, then window id) and the first k kept, so the result equals one pass's
    whenever the parts ran the same batches (same `batch_size`). Raises `CorpusError`
    as `mine` does when the whole corpus is empty or too short.
    """
    k = options.n_examples
    n_tokens = sum(p.n_tokens for p in parts)
    n_windows = max(p.n_windows for p in parts)
    _check_enough(n_tokens, n_windows, options)
    table_ids = torch.cat([p.window_ids for p in parts])
    order = torch.argsort(table_ids)
    table_ids, table_windows = table_ids[order], torch.cat([p.windows for p in parts])[order]
    table_lengths = torch.cat([p.lengths for p in parts])[order]
    chosen: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
    for layer, first in parts[0].layers.items():
        scores = torch.cat([p.layers[layer].scores for p in parts], dim=1)
        ids = torch.cat([_global_ids(p, layer) for p in parts], dim=1)
        acts = torch.cat([p.layers[layer].activations for p in parts], dim=1)
        by_id = torch.argsort(ids, dim=1, stable=True)
        scores, ids = scores.gather(1, by_id), ids.gather(1, by_id)
        best = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        pick = by_id.gather(1, best)
        chosen[layer] = (scores.gather(1, best), ids.gather(1, best), acts[torch.arange(len(first.neurons)).unsqueeze(1), pick])
    used = torch.unique(torch.cat([ids.reshape(-1) for _, ids, _ in chosen.values()]))
    rows = torch.searchsorted(table_ids, used)
    layers = {
        layer: MinedLayer(
            layer=layer,
            neurons=list(parts[0].layers[layer].neurons),
            max_activations=scores[:, 0].contiguous(),
            window_index=torch.searchsorted(used, ids),
            activations=acts,
            scores=scores,
        )
        for layer, (scores, ids, acts) in chosen.items()
    }
    return MinedExamples(
        windows=table_windows[rows],
        lengths=table_lengths[rows],
        layers=layers,
        n_tokens=n_tokens,
        n_windows=n_windows,
        prepend_bos=parts[0].prepend_bos,
        window_ids=used,
    )


def _global_ids(part: MinedExamples, layer: int) -> Tensor:
    """Stream positions of a part's candidate windows of `layer`; -1 where it had none."""
    mined = part.layers[layer]
    if part.window_ids is None or part.window_ids.numel() == 0:
        return torch.full_like(mined.window_index, -1)
    ids = part.window_ids[mined.window_index]
    return torch.where(torch.isneginf(mined.scores), torch.full_like(ids, -1), ids)


def prefetch(items: Iterable, depth: int = 64) -> Iterator:
    """`items`, produced on a background thread up to `depth` ahead, so tokenising the
    corpus (the fast tokenizers release the GIL) overlaps the model's forward passes.
    An error in the producer is re-raised in the consumer, at its place in the stream."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:  # handed to the consumer
            put((done, e))

    thread = threading.Thread(target=produce, name="n2gkb-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
