"""The ingest runner: from a model to its neurons' graphs in Neo4j, resumably.

`run_ingest(store, options)`:
  1. loads the model and checks the layer / neuron selection against it;
  2. records the Model and a Run (every parameter, package versions) in Neo4j; the run id
     is a hash of the arguments, so running the same command again resumes the same Run;
  3. skips neurons already stored with status ok or dead (unless `force`);
  4. mines every chosen neuron's top examples in one corpus pass (`n2g_kb.runners.mining`), or
     reuses the mined examples checkpointed by an earlier attempt of the same run
     (`<data dir>/runs/<run id>/mined.pt`);
  5. extracts the neurons layer by layer in chunks (`n2g_kb.n2g.extract.extract_neurons`) and
     writes each chunk with `Store.write_neurons` (transactions of at most 8 neurons, so
     a neuron is stored whole or not at all) on a background thread while the next chunk runs;
  6. marks the Run finished with counts and timings.
Ctrl-C waits for the writes in flight, marks the run interrupted and re-raises; a crash
or a Neo4j outage leaves every written chunk valid, and the next run picks up from there.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from n2g_kb.n2g.config import DEFAULT_METHOD, METHODS, N2GConfig
from n2g_kb.runners.corpus import CorpusSource, iter_documents, resolve_corpus, token_windows
from n2g_kb.errors import ConfigError, DatabaseError, N2GKBError
from n2g_kb.faults import fault_point
from n2g_kb.runners.mining import MinedExamples, MiningOptions, mine, prefetch
from n2g_kb.runners.shard import Shard
from n2g_kb.n2g.results import NeuronResult
from n2g_kb.selection import check_bounds, format_ranges, parse_layers, parse_neurons, parse_ranges, parse_spans
from n2g_kb.kb.models import bind_model, drop_if_empty
from n2g_kb.kb.store import LAYERS, UNITS, write_concurrency
from n2g_kb.settings import check_device, data_dir, private_dir

DEFAULT_AUGMENTER = N2GConfig().augment_model
DONE_STATUSES = frozenset({"ok", "dead"})

_MAX_FAILED_CHUNKS = 3


@dataclass(frozen=True)
class IngestOptions:
    """The arguments of one ingest (the CLI's options).

    `model` is a Hugging Face name or a local checkpoint directory; `name` overrides the
    name the knowledge base stores it under (default: the HF name as given, or a local
    directory's name); a name already bound to another source is an error unless
    `replace` (see `n2g_kb.kb.models`). `layers` / `neurons` are selections like "0-11" or "0-99,512"
    (`neurons` None = all). `augmenter` is a masked LM name or path, or None to disable
    augmentation. `chunk_size` neurons share one extraction call and one write. `method`
    picks the extraction method (`n2g_kb.n2g.config.METHODS`). `heldout` random windows
    are set aside by the mining pass (never trained on) and every neuron is scored on
    them too (figures prefixed `random_`). `shard` "I/N" does only the I-th of N disjoint
    slices of the work (`n2g_kb.runners.shard`); the run id stays the whole ingest's.
    """

    model: str
    layers: str | None
    neurons: str | None = None
    examples: int = 20
    corpus: str | None = None
    max_tokens: int | None = 2_000_000
    context: int = 64
    batch_size: int | None = None
    device: str | None = None
    dtype: str = "float32"
    augmenter: str | None = DEFAULT_AUGMENTER
    name: str | None = None
    force: bool = False
    replace: bool = False
    chunk_size: int = 64
    seed: int = 0
    method: str = DEFAULT_METHOD
    shard: str | None = None
    sae: str | None = None
    latents: str | None = None
    heldout: int = 32

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method {self.method!r} is unknown; use one of: {', '.join(METHODS)}")
        if not self.model or not self.model.strip():
            raise ConfigError("no model given; pass a Hugging Face name (e.g. gpt2) or a local checkpoint directory")
        if self.sae is not None and not self.sae.strip():
            raise ConfigError("--sae is empty; pass an SAE directory (SAELens layout) or a Hugging Face repo")
        if self.sae is None and self.latents is not None:
            raise ConfigError("--latents chooses SAE latents; pass --sae too (or use --neurons for MLP neurons)")
        if self.sae is not None and self.neurons is not None and self.latents is not None:
            raise ConfigError("pass either --latents or --neurons with --sae, not both (they choose the same units)")
        if self.latents is not None:
            if self.latents.strip().lower() != "all":
                parse_spans(self.latents, "--latents")
            object.__setattr__(self, "neurons", self.latents)
        if self.layers is None and self.sae is None:
            raise ConfigError("--layers is required; e.g. --layers 0-11 (with --sae it defaults to the SAE's layer)")
        if self.layers is not None:
            parse_spans(self.layers, "--layers")
        if self.neurons is not None and self.neurons.strip().lower() != "all":
            parse_spans(self.neurons, "--neurons")
        if self.examples < 2:
            raise ConfigError(f"--examples {self.examples} is too small; use at least 2 (one train, one test)")
        if self.heldout < 0:
            raise ConfigError(f"--heldout {self.heldout} is invalid; use 0 or more windows of random text")
        if self.chunk_size < 1:
            raise ConfigError(f"--chunk-size {self.chunk_size} is too small; use 1 or more neurons")
        if self.name is not None and not self.name.strip():
            raise ConfigError("--name is empty; leave it out to use the model's own name")
        if self.name is not None and (len(self.name) > 200 or not self.name.isprintable()):
            raise ConfigError("--name must be printable text of at most 200 characters")
        if self.augmenter is not None and self.augmenter.strip().lower() in ("", "none", "off"):
            object.__setattr__(self, "augmenter", None)
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} is too small; use 1 or more windows per batch")
        check_device(self.device, available=False)
        MiningOptions(n_examples=self.examples, context=self.context, max_tokens=self.max_tokens, batch_size=self.batch_size or 1)
        if self.shard is not None:
            Shard.parse(self.shard)

    @property
    def model_name(self) -> str:
        """The name the knowledge base stores the model under; with an SAE,
        `<model>@<sae id>` (see `sae_model_name`)."""
        base = self.base_model_name
        return base if self.sae is None else sae_model_name(base, self.sae)

    @property
    def base_model_name(self) -> str:
        """The model's own name: `name`, else the HF name as given or a local directory's name."""
        if self.name:
            return self.name.strip()
        path = Path(self.model).expanduser()
        return path.resolve().name if path.is_dir() else self.model

    def n2g_config(self) -> N2GConfig:
        return N2GConfig.for_method(self.method, n_examples=self.examples, augment_model=self.augmenter, seed=self.seed)

    def mining_options(self, config: N2GConfig, device: str = "cpu", model: Any | None = None, n_layers: int = 1) -> MiningOptions:
        """Mining settings; without a batch size, 32 windows per forward on CPU and on a
        GPU as many as its free memory holds for `n_layers` captured layers of `model`
        (`LoadedModel.mining_batch`; 256 when no model is given)."""
        batch_size = self.batch_size
        if not batch_size:
            on_gpu = str(device).startswith("cuda")
            default = 256 if on_gpu else 32
            width = self.context + (1 if config.prepend_bos else 0)
            batch_size = model.mining_batch(default, width, n_layers) if on_gpu and model is not None else default
        return MiningOptions(
            n_examples=self.examples,
            context=self.context,
            max_tokens=self.max_tokens,
            batch_size=batch_size,
            prepend_bos=config.prepend_bos,
            heldout=self.heldout,
            samples=config.sample_examples,
            sample_bins=config.sample_bins,
            negatives=config.negative_examples,
            fire_threshold=config.fire_threshold,
            seed=self.seed,
        )


@dataclass(frozen=True)
class ProgressEvent:
    """What the runner is doing, for progress displays.

    stage: 'load' (model), 'resume' (done/total = neurons already stored / chosen),
    'mine' (corpus tokens), 'collect' (top windows rerun), 'layer' (neurons of `layer`
    done, skipped ones included; first sent when the layer's work starts), 'step' (an
    extraction stage of the current chunk, named in `detail`), 'info' (a message in
    `detail`), 'done' (neurons processed of those to do, once the run is finished).
    """

    stage: str
    done: int = 0
    total: int = 0
    layer: int | None = None
    detail: str = ""


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest did. `written` counts neurons stored with status ok."""

    run_id: str
    model: str
    layers: tuple[int, ...]
    neurons_chosen: int
    written: int
    dead: int
    failed: int
    skipped: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    tokens_mined: int = 0
    mined_from_checkpoint: bool = False
    checkpoint: str | None = None

    @property
    def processed(self) -> int:
        return self.written + self.dead + self.failed

    @property
    def neurons_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def sae_model_name(base: str, sae: str) -> str:
    """The knowledge-base model name of an SAE's latents: `<base>@<sae id>`, the SAE id
    being a local directory's name or the hub id as given. Keeping latents under their
    own model name keeps the (model, layer, index) key and every query working."""
    path = Path(sae).expanduser()
    sae_id = path.resolve().name if path.exists() or sae.startswith((".", "/", "~")) else sae.strip()
    return f"{base}@{sae_id}"


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour shapes the graphs (provenance)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("n2g-kb", "torch", "transformers", "transformer-lens", "tokenizers", "datasets", "neo4j", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _model_identity(model: str) -> dict[str, Any]:
    """A local checkpoint is identified by its files' names, sizes and mtimes; a hub
    model by its name."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return {"name": model}
    files = sorted(p for p in path.iterdir() if p.is_file())
    return {
        "path": str(path.resolve()),
        "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


def run_key(options: IngestOptions, corpus: CorpusSource, layers: Sequence[int], neurons: Sequence[int]) -> str:
    """A hash of everything that decides what an ingest computes (not how fast)."""
    identity = {
        "model": _model_identity(options.model),
        "name": options.model_name,
        "dtype": options.dtype,
        "layers": list(layers),
        "neurons": format_ranges(neurons),
        "corpus": corpus.identity(),
        "mining": asdict(options.mining_options(options.n2g_config())) | {"batch_size": None},
        "config": options.n2g_config().to_dict(),
    }
    if options.sae is not None:  # only then, so runs without an SAE keep their ids
        identity["sae"] = _model_identity(options.sae)
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_source(model: str) -> str:
    """Where the model can be loaded from again: an HF name as given, a local checkpoint
    directory as an absolute path (so `fire` and `evaluate --corpus` work from anywhere)."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


def run_id_for(model_name: str, key: str) -> str:
    return f"ingest-{model_name}-{key[:12]}"


def runs_root() -> Path:
    """Where ingest checkpoints live: `<data dir>/runs` (N2GKB_DATA_DIR-aware)."""
    return data_dir() / "runs"


def chunks(items: Sequence[int], size: int) -> list[list[int]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class _Writer:
    """Writes chunks on one background thread so extraction and Neo4j overlap.

    At most `depth` chunks are in flight; `submit` waits for the oldest when full and
    re-raises its error in the caller's thread. Each chunk is one `write_neurons` call,
    whose transactions claim the chunk's neurons for this run (see
    `Store.write_neurons`); `on_written(written, chunk)` gets the ones it wrote. After a
    failed write the chunks still queued fail at once with the same error (Neo4j is
    gone: no point in waiting through the driver's retries again for each).
    """

    def __init__(self, store: Any, model: str, run_id: str, force: bool,
                 on_written: Callable[[list[NeuronResult], list[NeuronResult]], None], depth: int = 2, claim: bool = True):
        self.store = store
        self.claim = claim  # False for a bulk-import spool, which takes every chunk as it is
        self.model = model
        self.run_id = run_id
        self.force = force
        self.on_written = on_written
        self.depth = depth
        self.seconds = 0.0
        self.error: BaseException | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="n2gkb-writer")
        self._pending: deque[tuple[Future, list[NeuronResult]]] = deque()

    def _write(self, results: list[NeuronResult]) -> list[NeuronResult]:
        if self.error is not None:
            raise self.error
        start = time.perf_counter()
        try:
            if not self.claim:
                self.store.write_neurons(self.model, results, run_id=self.run_id)
                return list(results)
            return self.store.write_neurons(self.model, results, run_id=self.run_id, claim=True, force=self.force)
        except BaseException as e:
            self.error = e
            raise
        finally:
            self.seconds += time.perf_counter() - start

    def _reap_one(self) -> None:
        future, results = self._pending.popleft()
        written = future.result()
        self.on_written(written, results)

    def check(self) -> None:
        """Hands over the chunks already written and raises a write's error, without waiting."""
        while self._pending and self._pending[0][0].done():
            self._reap_one()

    def submit(self, results: list[NeuronResult]) -> None:
        self.check()
        while len(self._pending) >= self.depth:
            self._reap_one()
        self._pending.append((self._pool.submit(self._write, results), results))

    def flush(self) -> None:
        """Waits for every chunk in flight; the first failure is raised (after all finish)."""
        error: BaseException | None = None
        while self._pending:
            try:
                self._reap_one()
            except BaseException as e:  # keep draining so no write is left half-observed
                error = error or e
        if error is not None:
            raise error

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _failed(results_for: Sequence[int], model: str, layer: int, max_acts: dict[int, float], error: BaseException) -> list[NeuronResult]:
    text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
    return [
        NeuronResult(model=model, layer=layer, index=n, max_activation=float(max_acts.get(n, 0.0)), status="failed", error=text)
        for n in results_for
    ]


def run_ingest(
    store: Any,
    options: IngestOptions,
    *,
    load_model: Callable[..., Any] | None = None,
    load_augmenter: Callable[..., Any] | None = None,
    progress: ProgressFn | None = None,
    on_written: Callable[[Sequence[NeuronResult]], None] | None = None,
    runs_dir: Path | None = None,
    load_sae: Callable[..., Any] | None = None,
    bulk: Any = None,
) -> IngestSummary:
    """Ingests the neurons `options` choose into the knowledge base behind `store`.

    `bulk` (the managed `LocalNeo4j` behind `store`): when its knowledge base is still
    empty, the neurons are spooled and built in at the end with neo4j-admin import
    (`n2g_kb.kb.bulk`) instead of written over Bolt chunk by chunk.

    `load_model(name_or_path, device=, dtype=)` and `load_augmenter(name, device=,
    batch_size=)` default to `n2g_kb.lm.model.load_model` / `n2g_kb.n2g.augment.load_augmenter`
    (tests and benches inject their own). `on_written(results)` is called, in this
    thread, after each chunk is committed. Raises `N2GKBError` subclasses for expected
    failures (bad selection, model, corpus, Neo4j); everything committed before stays.
    """
    if load_model is None:
        from n2g_kb.lm.model import load_model
    if load_augmenter is None:
        from n2g_kb.n2g.augment import load_augmenter
    if load_sae is None:
        from n2g_kb.lm.sae import load_sae
    ingest = _Ingest(store, options, progress, on_written, runs_dir or runs_root())
    ingest.bulk_server = bulk
    try:
        return ingest.run(load_model, load_augmenter, load_sae)
    except DatabaseError:
        raise
    except BaseException:
        if ingest.model_bound:  # a first ingest that wrote nothing leaves no empty Model behind
            _best_effort(lambda: drop_if_empty(store, ingest.name, ingest.run_id))
        raise


class _Ingest:
    """The state of one `run_ingest` call: plan, counts, timings, the writer."""

    def __init__(self, store: Any, options: IngestOptions, progress: ProgressFn | None,
                 on_written: Callable[[Sequence[NeuronResult]], None] | None, runs_dir: Path) -> None:
        self.store = store
        self.options = options
        self.progress = progress
        self.on_written = on_written
        self.runs_dir = runs_dir
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.counts = {"ok": 0, "dead": 0, "failed": 0}
        self.chunks_written = 0
        self.tokens_mined = 0
        self.from_checkpoint = False
        self.bulk_server: Any = None
        self.model_bound = False

    def emit(self, stage: str, done: int = 0, total: int = 0, layer: int | None = None, detail: str = "") -> None:
        writer = getattr(self, "writer", None)
        if writer is not None and stage == "step":
            writer.check()  # a failed write (Neo4j gone) stops the run at the next step
        if self.progress is not None:
            self.progress(ProgressEvent(stage, done, total, layer, detail))

    # -- plan ------------------------------------------------------------------------------
    def run(
        self, load_model: Callable[..., Any], load_augmenter: Callable[..., Any], load_sae: Callable[..., Any]
    ) -> IngestSummary:
        options = self.options
        write_concurrency()  # a bad N2GKB_WRITE_CONCURRENCY fails here, not at the first write
        sae = load_sae(options.sae) if options.sae is not None else None  # fails in seconds, before the model
        self.emit("load", detail=options.model)
        self.model = load_model(options.model, device=options.device, dtype=options.dtype)
        if sae is not None:
            self.model.attach_sae(sae)
        self.timings["load_s"] = time.perf_counter() - self.started
        sink = None
        if self.bulk_server is not None:
            from n2g_kb.kb.bulk import BulkSink

            if BulkSink.usable(self.store):
                sink = BulkSink(self.bulk_server, self.store)
                self.emit("info", detail="empty knowledge base: the neurons will be bulk-imported at the end")
        self._plan()
        self.augmenter = None
        if self.n_todo and self.config.augment_model is not None and self.config.n_substitutes > 0:
            # Loaded before the corpus pass, so a missing masked LM fails in seconds, not hours.
            self.emit("info", detail=f"loading masked LM {self.config.augment_model}")
            self.augmenter = load_augmenter(
                self.config.augment_model, device=self.model.device, batch_size=self.config.mlm_batch_size
            )
        self._start_run()
        self.writer = _Writer(sink or self.store, self.name, self.run_id, self.options.force, self._written, claim=sink is None)
        try:
            if self.n_todo:
                self._extract_all()
            self.writer.flush()
            props = self._finish("finished")
            if sink is not None:
                stats = sink.finish(on_status=lambda msg: self.emit("info", detail=msg))
                self.emit("info", detail=f"bulk import: {stats.nodes + stats.relationships:,} nodes+relationships "
                                         f"in {stats.seconds:.1f} s")
            self.emit("done", sum(self.counts.values()), self.n_todo)
        except KeyboardInterrupt:
            self._settle()
            _best_effort(lambda: self._finish("interrupted"))
            raise
        except DatabaseError:
            self._settle()  # Neo4j is gone: the Run stays 'running' until the next attempt
            raise
        except BaseException as e:
            self._settle()
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            _best_effort(lambda: self._finish("failed", error=message))
            raise
        finally:
            self.writer.close()
            if sink is not None:
                sink.discard()
        return IngestSummary(
            run_id=self.run_id,
            model=self.name,
            layers=tuple(self.layers),
            neurons_chosen=self.n_chosen,
            written=self.counts["ok"],
            dead=self.counts["dead"],
            failed=self.counts["failed"],
            skipped=self.skipped,
            seconds=props["seconds"],
            timings=dict(props["timings"]),
            tokens_mined=self.tokens_mined,
            mined_from_checkpoint=self.from_checkpoint,
            checkpoint=str(self.checkpoint) if self.checkpoint.exists() else None,
        )

    def _plan(self) -> None:
        """Checks the selection against the model and finds the neurons still to do."""
        options, model = self.options, self.model
        self.name = options.model_name
        sae = getattr(model, "sae", None)
        if sae is not None and options.layers is None:
            self.layers = [sae.cfg.layer]
        else:
            self.layers = list(parse_layers(options.layers, model.n_layers, self.name))
        if sae is not None:  # latents exist in the SAE's layer only
            for layer in self.layers:
                model.check_layer(layer)
        if options.latents is not None and options.latents.strip().lower() != "all":
            self.neurons = list(check_bounds(parse_ranges(options.latents, "--latents"), model.d_mlp, "--latents", self.name))
        else:
            self.neurons = list(parse_neurons(options.neurons, model.d_mlp, self.name))
        if self.neurons and max(self.neurons) >= UNITS or self.layers and max(self.layers) >= LAYERS:
            # before any extraction: the store would refuse their numbers at the first write
            raise ConfigError(
                f"{self.name}: the knowledge base numbers layers 0-{LAYERS - 1} and units 0-{UNITS - 1:,} of a layer; "
                f"select {'--latents' if sae is not None else '--neurons'} and --layers within them"
            )
        self.config = options.n2g_config()
        bos = 1 if self.config.prepend_bos else 0
        if options.context + bos > model.n_ctx:
            raise ConfigError(
                f"--context {options.context} does not fit {self.name}'s context of {model.n_ctx} tokens "
                f"(BOS included); use at most {model.n_ctx - bos}"
            )
        self.corpus = resolve_corpus(options.corpus, options.model)
        self.key = run_key(options, self.corpus, self.layers, self.neurons)
        self.run_id = run_id_for(self.name, self.key)
        self.shard = Shard.parse(options.shard) if options.shard else None
        self.chosen = self.shard.part(self.layers, self.neurons) if self.shard else {layer: self.neurons for layer in self.layers}
        suffix = f"-{self.shard.key}" if self.shard else ""
        self.checkpoint = self.runs_dir / _safe_dir_name(self.run_id) / f"mined{suffix}.pt"
        private_dir(self.runs_dir, "the checkpoint directory", own=True)  # fails here, not after mining
        identity = dict(
            source=model_source(options.model),
            hook=model.hook_template,
            n_layers=model.n_layers,
            d_mlp=model.d_mlp,
            n_ctx=model.n_ctx,
            act_fn=model.act_fn,
            **_unit_props(model, options),
        )
        note = bind_model(self.store, self.name, identity, replace=options.replace, run_id=self.run_id)
        self.model_bound = True
        if note:
            self.emit("info", detail=note)
        self.todo: dict[int, list[int]] = {}
        for layer, wanted in self.chosen.items():
            stored = {} if options.force else self.store.neuron_status(self.name, layer)
            self.todo[layer] = [n for n in wanted if stored.get(n) not in DONE_STATUSES]
        self.n_todo = sum(len(v) for v in self.todo.values())
        self.n_chosen = sum(len(v) for v in self.chosen.values())
        self.skipped = self.n_chosen - self.n_todo
        self.done_by_layer = {layer: len(self.chosen[layer]) - len(self.todo[layer]) for layer in self.chosen}
        self.emit("resume", self.skipped, self.n_chosen)

    def _start_run(self) -> None:
        options = self.options
        self.store.start_run(
            self.run_id,
            self.name,
            model_source=model_source(options.model),
            run_key=self.key,
            layers=self.layers,
            neurons=format_ranges(self.neurons),
            n_neurons=len(self.layers) * len(self.neurons),
            examples=options.examples,
            corpus=self.corpus.describe(),
            corpus_identity=self.corpus.identity(),
            max_tokens=options.max_tokens,
            context=options.context,
            device=str(self.model.device),
            dtype=options.dtype,
            model_dtype=str(getattr(self.model, "dtype", options.dtype)).replace("torch.", ""),
            augmenter=options.augmenter or "none",
            method=self.config.method,
            config=self.config.to_dict(),
            versions=package_versions(),
            args=asdict(options),
            neurons_skipped=self.skipped,
        )

    # -- work ------------------------------------------------------------------------------
    def _extract_all(self) -> None:
        from n2g_kb.n2g.extract import extract_neurons

        mined = self._mined()
        extract_s = 0.0
        failed_streak = 0
        for layer in self.chosen:
            if not self.todo[layer]:
                continue
            self.emit("layer", self.done_by_layer[layer], len(self.chosen[layer]), layer)
            for chunk in chunks(self.todo[layer], self.options.chunk_size):
                chunk = self._still_to_do(layer, chunk)
                if not chunk:
                    continue
                fault_point("extract")
                t0 = time.perf_counter()
                results = _extract_chunk(
                    extract_neurons, self.model, layer, chunk, mined, self.config, self.augmenter, self.name, self.emit
                )
                extract_s += time.perf_counter() - t0
                self.timings["extract_s"] = extract_s
                failed_streak = failed_streak + 1 if all(r.status == "failed" for r in results) else 0
                self.writer.submit(results)
                if failed_streak >= _MAX_FAILED_CHUNKS:
                    self.writer.flush()
                    raise N2GKBError(
                        f"extraction failed for every neuron of {failed_streak} chunks in a row "
                        f"(last error: {results[0].error}); fix the cause and run the same command again"
                    )

    def _still_to_do(self, layer: int, chunk: list[int]) -> list[int]:
        """`chunk` less the neurons another ingest finished since this one planned (so an
        overlapping run does not compute them again); those count as skipped."""
        if self.options.force:
            return chunk
        stored = self.store.chunk_status(self.name, layer, chunk)
        todo = [n for n in chunk if stored.get(n) not in DONE_STATUSES]
        if len(todo) < len(chunk):
            self.skipped += len(chunk) - len(todo)
            self.done_by_layer[layer] += len(chunk) - len(todo)
            self.emit("layer", self.done_by_layer[layer], len(self.chosen[layer]), layer)
        return todo

    def _mined(self) -> MinedExamples:
        """The run's mined examples: from its checkpoint when an earlier attempt saved them."""
        t0 = time.perf_counter()
        layers = sorted(self.chosen)
        neurons = sorted(set().union(*self.chosen.values()))  # a shard's slice, as columns of its layers
        mined = MinedExamples.load(self.checkpoint)
        if mined is not None and sorted(mined.layers) == layers and mined.layers[layers[0]].neurons == neurons:
            self.from_checkpoint = True
            self.emit("info", detail=f"using the examples mined by an earlier attempt ({self.checkpoint})")
        else:
            mined = self._mine(layers, neurons)
            mined.meta.update(corpus=self.corpus.describe(), model=self.options.model)
            mined.save(self.checkpoint)
        self.tokens_mined = mined.n_tokens
        self.timings["mine_s"] = time.perf_counter() - t0
        return mined

    def _mine(self, layers: list[int], neurons: list[int]) -> MinedExamples:
        """One pass over the corpus (the Ray runner overrides this with corpus parts)."""
        mining = self.options.mining_options(self.config, str(self.model.device), self.model, len(layers))
        windows = prefetch(
            token_windows(
                iter_documents(self.corpus),
                self.model.to_tokens_batch,
                separator=_separator(self.model),
                context=mining.context,
                max_tokens=mining.max_tokens,
            )
        )
        return mine(
            self.model,
            layers,
            neurons,
            windows,
            mining,
            progress=lambda stage, done, total: self.emit(stage, done, total),
            expected_tokens=self.corpus.estimated_tokens(),
        )

    def _written(self, results: list[NeuronResult], chunk: list[NeuronResult]) -> None:
        """Called (in this thread) once a chunk is committed; `results` are the neurons it
        wrote, the rest of `chunk` another run had finished meanwhile (counted as skipped)."""
        for r in results:
            self.counts[r.status] = self.counts.get(r.status, 0) + 1
        self.skipped += len(chunk) - len(results)
        layer = chunk[0].layer
        self.done_by_layer[layer] += len(chunk)
        self.emit("layer", self.done_by_layer[layer], len(self.chosen[layer]), layer)
        if self.on_written is not None and results:
            self.on_written(results)
        self.chunks_written += 1
        fault_point("chunk-written")

    def _settle(self) -> None:
        """Lets the chunks in flight land (they hold complete results); their errors are
        dropped because another error is already on its way up."""
        try:
            self.writer.flush()
        except BaseException:
            pass

    def _finish(self, status: str, **extra: Any) -> dict[str, Any]:
        """Records the Run's end. Its counts are what it PRODUCED over all its attempts (a
        resumed run counts the neurons its killed attempt wrote; a neuron another run
        finished first is not counted), so the provenance agrees with the graph."""
        self.timings["write_s"] = self.writer.seconds
        produced = {row["status"]: row["neurons"] for row in self.store.read("ingest/run_produced", id=self.run_id)}
        props = dict(
            neurons_written=produced.get("ok", 0),
            neurons_dead=produced.get("dead", 0),
            neurons_failed=produced.get("failed", 0),
            neurons_skipped=self.n_chosen - sum(produced.values()),
            seconds=round(time.perf_counter() - self.started, 3),
            timings={k: round(v, 3) for k, v in self.timings.items()},
            tokens_mined=self.tokens_mined,
            mined_from_checkpoint=self.from_checkpoint,
            **extra,
        )
        if self.shard is not None:  # the Run is the whole ingest's: `--finish` closes it
            self.store.write("write/run_progress", id=self.run_id, props={"shards": self.shard.count, self.shard.key: status})
        else:
            self.store.finish_run(self.run_id, status, **props)
        return props


def _unit_props(model: Any, options: IngestOptions) -> dict[str, Any]:
    """Model-node properties saying what its units are: kind, and for SAE latents the
    base model and the SAE (id, where it loads from, architecture, hook, widths)."""
    sae = getattr(model, "sae", None)
    if sae is None:
        return {"kind": "neuron"}
    cfg = sae.cfg
    return {
        "kind": sae.kind,
        "base_model": options.base_model_name,
        "sae": sae.id,
        "sae_source": model_source(options.sae or sae.id),
        "sae_architecture": cfg.architecture,
        "sae_hook": cfg.hook_name,
        "sae_d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
    }


def _best_effort(action: Callable[[], Any]) -> None:
    try:
        action()
    except N2GKBError:
        pass


def _safe_dir_name(run_id: str) -> str:
    """A run id as one directory name (hub names hold a '/')."""
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in run_id)


def _separator(model: Any) -> int | None:
    """Token between documents in the mining stream: the tokenizer's EOS (as GPT-2 saw
    `<|endoftext|>` between documents), else BOS."""
    eos = getattr(model.tokenizer, "eos_token_id", None)
    return int(eos) if eos is not None else int(model.bos_token_id)


def _extract_chunk(
    extract_neurons: Callable[..., list[NeuronResult]],
    model: Any,
    layer: int,
    chunk: list[int],
    mined: MinedExamples,
    config: N2GConfig,
    augmenter: Any,
    name: str,
    emit: Callable[..., None],
) -> list[NeuronResult]:
    """One chunk through extraction. If the batched call itself raises (not a neuron's own
    error, which extraction records), the neurons are retried one at a time so one bad
    neuron cannot fail its neighbours; a neuron that still raises is stored as failed."""
    examples = {n: mined.examples(layer, n, model.to_str_tokens) for n in chunk}
    extra = {n: mined.extra(layer, n, model.to_str_tokens) for n in chunk}
    max_acts = mined.max_activations(layer, chunk)

    def step(stage: str, done: int, total: int) -> None:
        emit("step", done, total, layer, stage)

    unit = {"kind": getattr(model, "kind", "neuron"), "sae": getattr(model, "sae_id", None)}

    def run(neurons: list[int]) -> list[NeuronResult]:
        results = extract_neurons(
            model, layer, neurons, examples, max_acts, config, augmenter=augmenter, progress=step, extra=extra
        )
        return [replace(r, model=name, **unit) for r in results]

    try:
        return run(chunk)
    except N2GKBError:
        raise
    except Exception as e:
        if len(chunk) == 1:
            return [replace(r, **unit) for r in _failed(chunk, name, layer, max_acts, e)]
        emit("info", detail=f"layer {layer}: a chunk failed ({type(e).__name__}); retrying its neurons one by one")
    out: list[NeuronResult] = []
    for n in chunk:
        try:
            out.extend(run([n]))
        except N2GKBError:
            raise
        except Exception as e:
            out.extend(replace(r, **unit) for r in _failed([n], name, layer, max_acts, e))
    return out
