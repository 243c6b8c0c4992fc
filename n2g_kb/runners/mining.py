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

A second, short pass reruns only the windows that made some neuron's top k and gathers
each neuron's activations over its windows, so `MinedExamples.examples` can hand
extraction real `Example`s (tokens and raw activations). The result saves to one file
(`save` / `load`) so a resumed ingest does not mine again.
"""

from __future__ import annotations

import os
import queue
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
from n2g_kb.n2g.results import Example

Progress = Callable[[str, int, int], None]
_FORMAT = 1


@dataclass(frozen=True)
class MiningOptions:
    """How to mine: `n_examples` windows per neuron, windows of `context` corpus tokens
    (plus BOS when `prepend_bos`), at most `max_tokens` corpus tokens, `batch_size` windows
    per forward pass."""

    n_examples: int = 20
    context: int = 64
    max_tokens: int | None = 2_000_000
    batch_size: int = 32
    prepend_bos: bool = True

    def __post_init__(self) -> None:
        if self.n_examples < 1:
            raise ConfigError(f"--examples {self.n_examples} is too small; use at least 2 (one train, one test)")
        if self.context < 2:
            raise ConfigError(f"--context {self.context} is too small; use at least 2 tokens (e.g. 64)")
        if self.max_tokens is not None and self.max_tokens < self.context:
            raise ConfigError(f"--max-tokens {self.max_tokens} is below one window of {self.context} tokens; raise it")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} is too small; use 1 or more windows per batch")


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
        return [
            self.windows[w, self.first : int(self.lengths[w])].tolist() for w in mined.window_index[mined.row(neuron)].tolist()
        ]

    def examples(self, layer: int, neuron: int, to_str_tokens: Callable[[Sequence[int]], list[str]]) -> list[Example]:
        """The neuron's examples, best first: each window's corpus tokens as the model
        decodes them and the neuron's raw activations on them, measured with BOS
        prepended (when `prepend_bos`) but without the BOS position itself, as N2G's
        extraction prepends BOS again when it reruns an example."""
        mined = self.layers[layer]
        row = mined.row(neuron)
        out = []
        for r, w in enumerate(mined.window_index[row].tolist()):
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
        )


def _remove_stale_temps(path: Path) -> None:
    """Deletes `<path>.tmp<pid>` files left by a save that was killed (its pid is gone)."""
    for tmp in path.parent.glob(path.name + ".tmp*"):
        pid = tmp.name[len(path.name) + 4 :]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    tops = {layer: RunningTopK(k, len(neurons), device) for layer in layers}
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
        for layer in layers:
            scores = window_scores(acts[layer], lengths, first)
            tops[layer].update(scores, ids)
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
    return _collect(model, layers, list(neurons), tops, all_windows, all_lengths, all_ids, options, n_tokens, n_windows, progress)


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


def _collect(
    model: LoadedModel,
    layers: list[int],
    neurons: list[int],
    tops: dict[int, RunningTopK],
    all_windows: Tensor,
    all_lengths: Tensor,
    all_ids: Tensor,
    options: MiningOptions,
    n_tokens: int,
    n_windows: int,
    progress: Progress | None,
) -> MinedExamples:
    """Reruns the windows that made some top k and gathers each neuron's activations."""
    device = torch.device(model.device)
    ids_by_layer = {layer: tops[layer].ids.T.contiguous().cpu() for layer in layers}  # [neuron, k], best first
    used = torch.unique(torch.cat([ids.reshape(-1) for ids in ids_by_layer.values()]))
    used = used[used >= 0]  # -1: no window (a corpus part with fewer than k windows)
    rows = torch.searchsorted(all_ids, used)  # `all_ids` rise: the scored windows in stream order
    windows = all_windows[rows]  # int32 on CPU: half the memory of int64
    lengths = all_lengths[rows]
    local = {layer: torch.searchsorted(used, ids) for layer, ids in ids_by_layer.items()}  # into `windows`
    width = windows.shape[1]
    k = options.n_examples
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
            max_activations=tops[layer].values[0].float().cpu(),
            window_index=local[layer],
            activations=out[layer],
            scores=tops[layer].values.T.float().cpu().contiguous(),
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
    )


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
