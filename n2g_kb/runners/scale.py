"""Ingest across many GPUs (or CPU workers) with Ray, into one knowledge base.

`run_ray_ingest(store, options, settings, RayOptions(...))` is `run_ingest` with the
model work spread over Ray actors (`IngestWorker`), one per GPU of the cluster (on a
cluster without GPUs, or with `--device cpu`: one per CPU, or `workers`), each loading
the model and the masked LM once and keeping them for the whole run:

  1. the driver (this process) plans as `run_ingest` does: the Model and the Run go to
     Neo4j, neurons already stored are skipped, the run id is the same;
  2. mining: the corpus is split into as many parts as there are workers, by batch
     (batch b goes to part b % parts, so every forward pass is the one a single process
     runs); each worker mines its part for every chosen neuron, and the driver merges the
     parts' top-k candidates exactly (`n2g_kb.runners.mining.merge_parts`) and saves the
     result as the run's checkpoint, shared with single-process runs;
  3. extraction: (layer, neuron-range) tasks of `chunk_size` neurons are queued, two in
     flight per worker; a worker extracts its chunk and writes it through
     `Store.write_neurons` (each neuron lands whole or not at all);
  4. a worker that dies (killed, out of memory, node lost) is restarted by Ray, which
     loads the model again and reruns its tasks (`max_retries` times); rewriting a chunk
     replaces its graphs, so every neuron ends with exactly one;
  5. progress and ETA are the driver's: per-layer neuron counts summed over workers.
Ctrl-C kills the actors (a write in flight is rolled back by Neo4j), marks the Run
interrupted and stops a Ray started for the run; the same command resumes.

Workers reach Neo4j themselves: every node must reach `settings.uri` (the managed
local Neo4j listens on 127.0.0.1 only, so use a Neo4j server for a multi-node cluster),
and read a local `--corpus` at the same path (or use a Hugging Face dataset).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from n2g_kb.errors import ConfigError, N2GKBError
from n2g_kb.runners.ingest import (
    _MAX_FAILED_CHUNKS,
    IngestOptions,
    IngestSummary,
    ProgressFn,
    _extract_chunk,
    _Ingest,
    _separator,
    chunks,
    runs_root,
)
from n2g_kb.runners.mining import MinedExamples, MinedLayer, MiningOptions, merge_parts
from n2g_kb.settings import ConnectionSettings

FAULT_ENV = "N2GKB_RAY_FAULT_MARKER"
"""Test hook: a file path. The first worker to write a chunk while the file is missing
creates it and dies hard (exit 137) right after the commit, as a killed node would."""

_IN_FLIGHT = 2


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` None or "local" starts a Ray for the run (with
    `num_cpus` logical CPUs, default all), anything else ("auto", "host:6379",
    "ray://host:10001") joins that cluster. `workers`: actors (default one per GPU, else
    one per CPU). `max_retries`: restarts of a dead worker and reruns of its tasks."""

    address: str | None = None
    workers: int | None = None
    num_cpus: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers {self.workers} is too small; use 1 or more")
        if self.max_retries < 0:
            raise ConfigError("max_retries must be 0 or more")

    @property
    def local(self) -> bool:
        return self.address is None or self.address.strip().lower() in ("", "local")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray, which is not installed; pip install 'n2g-kb[ray]'") from None
    return ray


class IngestWorker:
    """One Ray actor: the model (and masked LM) on its GPU or CPUs, and a Store."""

    def __init__(self, options: IngestOptions, settings: ConnectionSettings, device: str, threads: int, fault_marker: str | None) -> None:
        self.error: N2GKBError | None = None
        self.fault_marker = fault_marker
        try:
            self._load(options, settings, device, threads)
        except N2GKBError as e:  # handed to the driver as itself by the first call
            self.error = e

    def _load(self, options: IngestOptions, settings: ConnectionSettings, device: str, threads: int) -> None:
        from n2g_kb.kb.db import connect
        from n2g_kb.kb.store import Store
        from n2g_kb.lm.model import load_model

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        self.name = options.model_name
        self.config = options.n2g_config()
        self.model = load_model(options.model, device=device, dtype=options.dtype)
        self.augmenter = None
        if self.config.augment_model is not None and self.config.n_substitutes > 0:
            from n2g_kb.n2g.augment import load_augmenter

            self.augmenter = load_augmenter(self.config.augment_model, device=self.model.device, batch_size=self.config.mlm_batch_size)
        self.store = Store(connect(settings, retry_s=30.0), settings.database, settings=settings)
        self.store._schema_ready = True  # the driver applied the schema before any task

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def info(self) -> dict[str, Any]:
        self._check()
        m = self.model
        return dict(n_layers=m.n_layers, d_mlp=m.d_mlp, n_ctx=m.n_ctx, hook_template=m.hook_template, act_fn=m.act_fn,
                    device=str(m.device), pid=os.getpid())  # fmt: skip

    def mine(self, layers: list[int], neurons: list[int], corpus: Any, mining: MiningOptions, part: tuple[int, int] | None) -> MinedExamples:
        """Part `part` of the corpus (None: all of it), mined for every chosen neuron."""
        from n2g_kb.runners.corpus import iter_documents, token_windows
        from n2g_kb.runners.mining import mine, prefetch

        self._check()
        windows = prefetch(
            token_windows(iter_documents(corpus), self.model.to_tokens_batch, separator=_separator(self.model),
                          context=mining.context, max_tokens=mining.max_tokens)  # fmt: skip
        )
        return mine(self.model, layers, neurons, windows, mining, part=part)

    def extract(self, layer: int, neurons: list[int], mined: MinedExamples, run_id: str) -> dict[str, Any]:
        """Extracts one chunk and writes it (`Store.write_neurons`); returns what it stored."""
        from n2g_kb.n2g.extract import extract_neurons

        self._check()
        t0 = time.perf_counter()
        results = _extract_chunk(extract_neurons, self.model, layer, neurons, mined, self.config, self.augmenter, self.name,
                                 lambda *a, **k: None)  # fmt: skip
        t1 = time.perf_counter()
        self.store.write_neurons(self.name, results, run_id=run_id)
        if self.fault_marker:
            try:
                os.close(os.open(self.fault_marker, os.O_CREAT | os.O_EXCL))
                os._exit(137)
            except FileExistsError:
                pass
        return {
            "statuses": [r.status for r in results],
            "error": next((r.error for r in results if r.error), None),
            "extract_s": t1 - t0,
            "write_s": time.perf_counter() - t1,
            "pid": os.getpid(),
        }


@dataclass(frozen=True)
class _ModelInfo:
    """What the driver's planning needs of the model, as the workers loaded it."""

    n_layers: int
    d_mlp: int
    n_ctx: int
    hook_template: str
    act_fn: str
    device: str


class _Pool:
    """The run's actors, and the one place Ray errors become `N2GKBError`s."""

    def __init__(self, ray: Any, options: IngestOptions, settings: ConnectionSettings, ray_options: RayOptions) -> None:
        self.ray = ray
        self.options = options
        self.settings = settings
        self.ray_options = ray_options
        self.actors: list[Any] = []
        self.pids: set[int] = set()

    def start(self, model: str, device: str | None = None, dtype: str = "float32") -> _ModelInfo:
        """Starts the workers (the runner's `load_model`) and returns the model's shape."""
        ray, opts = self.ray, self.ray_options
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        use_gpu = gpus > 0 and (device is None or str(device).startswith("cuda"))
        if not use_gpu and device is not None and str(device).startswith("cuda"):
            raise ConfigError(f"--device {device}: the Ray cluster has no GPU; use --device cpu or a cluster with GPUs")
        n = opts.workers or (gpus if use_gpu else cpus)
        have = gpus if use_gpu else cpus
        if n > have:
            kind = "GPUs" if use_gpu else "CPUs"
            raise ConfigError(f"--workers {n} needs {n} {kind}; the Ray cluster has {have}")
        per_actor = {"num_gpus": 1, "num_cpus": 1} if use_gpu else {"num_cpus": max(1, cpus // n)}
        actor = ray.remote(IngestWorker).options(
            **per_actor, max_restarts=opts.max_retries, max_task_retries=opts.max_retries
        )
        worker_device = "cuda" if use_gpu else "cpu"
        marker = os.environ.get(FAULT_ENV) or None
        self.actors = [
            actor.remote(self.options, self.settings, worker_device, per_actor["num_cpus"], marker) for _ in range(n)
        ]
        infos = self.get([a.info.remote() for a in self.actors])
        self.pids.update(i["pid"] for i in infos)
        first = infos[0]
        where = f"{n} x {first['device']}"
        return _ModelInfo(first["n_layers"], first["d_mlp"], first["n_ctx"], first["hook_template"], first["act_fn"],
                          f"ray: {where}")  # fmt: skip

    def get(self, refs: Any) -> Any:
        ray = self.ray
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, N2GKBError):
                raise e.cause from None
            text = str(e.cause or e).strip().splitlines()
            raise N2GKBError(f"a Ray worker failed: {text[-1] if text else type(e).__name__}") from e
        except ray.exceptions.RayActorError as e:
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            reason = lines[0][:200] if lines else type(e).__name__
            raise N2GKBError(
                f"a Ray worker died and could not finish its work within {self.ray_options.max_retries} restarts "
                f"({reason}); everything written is kept: run the same command again to resume"
            ) from e

    def stop(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors = []


def _slice(mined: MinedExamples, layer: int, neurons: list[int]) -> MinedExamples:
    """The part of `mined` one task needs: these neurons of one layer and their windows."""
    m = mined.layers[layer]
    rows = torch.tensor([m.row(n) for n in neurons], dtype=torch.long)
    index = m.window_index[rows]
    valid = index >= 0  # -1: no window (a neuron with fewer samples, negatives or held-out windows)
    used = torch.unique(index[valid])
    local = torch.full_like(index, -1)
    local[valid] = torch.searchsorted(used, index[valid])
    part = MinedLayer(
        layer=layer,
        neurons=list(neurons),
        max_activations=m.max_activations[rows],
        window_index=local,
        activations=m.activations[rows],
        scores=None if m.scores is None else m.scores[rows],
    )
    return MinedExamples(windows=mined.windows[used], lengths=mined.lengths[used], layers={layer: part},
                         n_tokens=mined.n_tokens, n_windows=mined.n_windows, prepend_bos=mined.prepend_bos,
                         meta=dict(mined.meta), counts=dict(mined.counts),
                         window_ids=None if mined.window_ids is None else mined.window_ids[used])  # fmt: skip


class _RayIngest(_Ingest):
    """`run_ingest`'s plan, Run records and error handling; mining and extraction on Ray."""

    def __init__(self, store: Any, options: IngestOptions, progress: ProgressFn | None, runs_dir: Path, pool: _Pool) -> None:
        super().__init__(store, options, progress, None, runs_dir)
        self.pool = pool

    def _mine(self, layers: list[int], neurons: list[int]) -> MinedExamples:
        pool = self.pool
        mining = self.options.mining_options(self.config, "cuda" if "cuda" in self.model.device else "cpu")
        n = len(pool.actors)
        whole = mining.sampling or mining.heldout > 0
        if whole:
            # Samples, negatives and held-out text (n2g+) need one pass over the whole corpus:
            # corpus parts find the top k only. One worker mines it all; extraction, the
            # expensive part, is still spread over every worker.
            refs = [pool.actors[0].mine.remote(layers, neurons, self.corpus, mining, None)]
        else:
            refs = [a.mine.remote(layers, neurons, self.corpus, mining, (i, n)) for i, a in enumerate(pool.actors)]
        expected = self.corpus.estimated_tokens() or 0
        parts: dict[Any, MinedExamples] = {}
        self.emit("mine", 0, expected)
        pending = list(refs)
        while pending:
            ready, pending = pool.ray.wait(pending, num_returns=1)
            parts[ready[0]] = pool.get(ready[0])
            tokens = sum(p.n_tokens for p in parts.values())
            self.emit("mine", tokens, tokens if not pending else max(expected, tokens))
        if whole:
            return parts[refs[0]]
        return merge_parts([parts[r] for r in refs], mining)

    def _extract_all(self) -> None:
        try:
            self._distribute()
        except KeyboardInterrupt:
            self.pool.stop()  # stop the cluster's work first; the Run is marked interrupted next
            raise

    def _distribute(self) -> None:
        pool, ray = self.pool, self.pool.ray
        mined = self._mined()
        tasks = deque((layer, chunk) for layer in self.chosen for chunk in chunks(self.todo[layer], self.options.chunk_size))
        for layer in self.chosen:
            if self.todo[layer]:
                self.emit("layer", self.done_by_layer[layer], len(self.chosen[layer]), layer)
        pending: dict[Any, tuple[int, int, list[int]]] = {}

        def submit(worker: int) -> None:
            if tasks:
                layer, chunk = tasks.popleft()
                ref = pool.actors[worker].extract.remote(layer, chunk, _slice(mined, layer, chunk), self.run_id)
                pending[ref] = (worker, layer, chunk)

        for _ in range(_IN_FLIGHT):
            for worker in range(len(pool.actors)):
                submit(worker)
        failed_streak = 0
        extract_s = 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker, layer, chunk = pending.pop(ready[0])
            out = pool.get(ready[0])
            pool.pids.add(out["pid"])
            for status in out["statuses"]:
                self.counts[status] = self.counts.get(status, 0) + 1
            extract_s += out["extract_s"]
            self.writer.seconds += out["write_s"]
            self.timings["extract_s"] = extract_s  # summed over workers
            self.done_by_layer[layer] += len(chunk)
            self.emit("layer", self.done_by_layer[layer], len(self.chosen[layer]), layer)
            failed_streak = failed_streak + 1 if all(s == "failed" for s in out["statuses"]) else 0
            if failed_streak >= _MAX_FAILED_CHUNKS:
                raise N2GKBError(
                    f"extraction failed for every neuron of {failed_streak} chunks in a row "
                    f"(last error: {out['error']}); fix the cause and run the same command again"
                )
            submit(worker)

    def _finish(self, status: str, **extra: Any) -> dict[str, Any]:
        extra.setdefault("ray_workers", len(self.pool.actors) or None)
        extra.setdefault("ray_worker_processes", len(self.pool.pids))
        return super()._finish(status, **extra)


def run_ray_ingest(
    store: Any,
    options: IngestOptions,
    settings: ConnectionSettings,
    ray_options: RayOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    runs_dir: Path | None = None,
) -> IngestSummary:
    """Ingests what `options` choose with the model work on Ray; the knowledge base
    behind `store` (the driver's) and `settings` (the workers') is the same one.

    Uses the Ray this process is already connected to, if any; otherwise starts or joins
    the one `ray_options` names, and leaves it as it found it. Raises `N2GKBError`
    subclasses for expected failures; everything committed before stays.
    """
    ray_options = ray_options or RayOptions()
    if options.shard:
        raise ConfigError("--shard and --ray do not mix: Ray spreads the whole ingest itself")
    if options.sae is not None:
        raise ConfigError("--sae does not run on --ray yet; use --shard I/N to spread SAE latents over processes")
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if ray_options.local:
                ray.init(num_cpus=ray_options.num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address=ray_options.address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = "a local Ray" if ray_options.local else f"the Ray cluster at {ray_options.address}"
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"cannot start or reach {where} ({reason[:200]}); check --ray") from None
        started = True
    pool = _Pool(ray, options, settings, ray_options)
    try:
        ingest = _RayIngest(store, options, progress, runs_dir or runs_root(), pool)
        return ingest.run(pool.start, lambda *a, **k: None, lambda *a, **k: None)  # workers load their own masked LM
    finally:
        pool.stop()
        if started:
            ray.shutdown()
