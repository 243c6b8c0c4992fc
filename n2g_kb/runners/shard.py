"""`--shard I/N` and `--finish`: one ingest as N independent processes (Slurm arrays).

A shard is the I-th (1-based) of N contiguous, disjoint slices of the ingest's (layer,
neuron) pairs in order, so most shards touch one or two layers and mining stops at the
deepest of them. Every shard is a whole ingest of its own slice: it loads the model,
mines the full corpus for its slice's neurons only, extracts and writes them through the
same store code (each neuron whole or not at all), and skips what is already stored. No shard
waits for another, shares files with another, or needs to run at the same time.

Why neuron slices and not corpus slices: a neuron's top k is a function of its own
activations alone (`RunningTopK` orders by score, then window id), so a shard that mines
the whole corpus for its neurons gets exactly the examples one process would. Splitting
the corpus instead would need every shard's candidates before any shard could extract:
a barrier that Slurm arrays (run in any order, any number at a time) cannot promise.
The price is one corpus pass per shard (minutes), beside extraction (hours), which is
split N ways. With Ray (`n2g_kb.runners.scale`) a driver coordinates, so there the
corpus is split and the parts merged exactly (`n2g_kb.runners.mining.merge_parts`).

All shards of an ingest share its run id (the run key hashes the whole selection, not
the shard), so they hang their neurons off one Run. A shard records itself on the Run
(`shard_I_of_N: finished|interrupted|failed`) but never finishes it: `finish_sharded`
(`n2gkb ingest ... --finish`) checks that every chosen neuron is stored, then marks the
Run finished with the counts read from the knowledge base.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from n2g_kb.errors import ConfigError, N2GKBError, NotFoundError
from n2g_kb.selection import format_ranges, parse_layers, parse_neurons

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard {self.index}/{self.count}: use I/N with 1 <= I <= N, e.g. 1/4 ... 4/4")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text or "")
        if not match:
            raise ConfigError(f"--shard {text!r} is not I/N; use e.g. 1/4 for the first of four shards")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def key(self) -> str:
        """The shard as a Run property / file name part: shard_2_of_4."""
        return f"shard_{self.index}_of_{self.count}"

    def bounds(self, total: int) -> tuple[int, int]:
        """[start, stop) of this shard's slice of `total` pairs (sizes differ by at most 1)."""
        return (self.index - 1) * total // self.count, self.index * total // self.count

    def part(self, layers: Sequence[int], neurons: Sequence[int]) -> dict[int, list[int]]:
        """This shard's neurons of each layer (layers without any are left out)."""
        start, stop = self.bounds(len(layers) * len(neurons))
        out: dict[int, list[int]] = {}
        for position in range(start, stop):
            layer, i = divmod(position, len(neurons))
            out.setdefault(layers[layer], []).append(neurons[i])
        return out


def shards_holding(pairs: Sequence[tuple[int, int]], layers: Sequence[int], neurons: Sequence[int], count: int) -> list[int]:
    """The (1-based) shards of `count` whose slices hold these (layer, neuron) pairs."""
    layer_pos = {layer: i for i, layer in enumerate(layers)}
    neuron_pos = {n: i for i, n in enumerate(neurons)}
    total = len(layers) * len(neurons)
    found = set()
    for layer, n in pairs:
        position = layer_pos[layer] * len(neurons) + neuron_pos[n]
        index = min(count, position * count // total + 1)  # a first guess, off by at most one
        while Shard(index, count).bounds(total)[0] > position:
            index -= 1
        while Shard(index, count).bounds(total)[1] <= position:
            index += 1
        found.add(index)
    return sorted(found)


def finish_sharded(store: Any, options: Any) -> Any:
    """Checks that every neuron `options` choose is stored (status ok or dead) and marks
    the ingest's Run finished with the counts. Needs no model weights: the layer and
    neuron counts come from the Model node the shards recorded.

    Raises `NotFoundError` when no shard has run, `N2GKBError` naming the missing neurons
    and the shards that hold them when the ingest is incomplete (the Run stays open).
    """
    from n2g_kb.runners.corpus import resolve_corpus
    from n2g_kb.runners.ingest import DONE_STATUSES, IngestSummary, run_id_for, run_key

    started = time.perf_counter()
    name = options.model_name
    rows = store.read("read/model", model=name)
    runs = []
    if rows:
        model = rows[0]["properties"]
        layers = list(parse_layers(options.layers, int(model["n_layers"]), name))
        neurons = list(parse_neurons(options.neurons, int(model["d_mlp"]), name))
        key = run_key(options, resolve_corpus(options.corpus, options.model), layers, neurons)
        run_id = run_id_for(name, key)
        runs = store.read("ingest/run", id=run_id)
    if not runs:
        raise NotFoundError(
            f"no shard of this ingest of {name} has run yet; run `n2gkb ingest` with the same options and "
            "--shard I/N for every I first, then --finish"
        )
    run = runs[0]["run"]
    counts = {"ok": 0, "dead": 0, "failed": 0}
    missing: list[tuple[int, int]] = []
    for layer in layers:
        stored = store.neuron_status(name, layer)
        for n in neurons:
            status = stored.get(n)
            if status in DONE_STATUSES:
                counts[status] += 1
            else:
                counts["failed"] += status == "failed"
                missing.append((layer, n))
    if missing:
        by_layer: dict[int, list[int]] = {}
        for layer, n in missing:
            by_layer.setdefault(layer, []).append(n)
        where = "; ".join(f"layer {layer}: {format_ranges(ns)}" for layer, ns in sorted(by_layer.items()))
        shards = ""
        if run.get("shards"):
            count = int(run["shards"])
            shards = " (" + ", ".join(f"--shard {i}/{count}" for i in shards_holding(missing, layers, neurons, count)) + ")"
        failed = f", {counts['failed']:,} of them failed" if counts["failed"] else ""
        raise N2GKBError(
            f"the ingest is incomplete: {len(missing):,} of {len(layers) * len(neurons):,} neurons are not stored{failed} "
            f"({where}); run their shards again{shards}, then --finish"
        )
    seconds = round(time.perf_counter() - started, 3)
    store.finish_run(
        run_id, "finished", neurons_written=counts["ok"], neurons_dead=counts["dead"], neurons_failed=0, finished_by="--finish"
    )
    return IngestSummary(
        run_id=run_id,
        model=name,
        layers=tuple(layers),
        neurons_chosen=len(layers) * len(neurons),
        written=counts["ok"],
        dead=counts["dead"],
        failed=0,
        skipped=0,
        seconds=seconds,
    )
