"""`n2gkb ingest`: mine, extract and store the graphs of a model's neurons."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.common import DatabaseOpt, PasswordOpt, UriOpt, UserOpt, cli_errors, connection, console, err_console, open_store
from n2g_kb.errors import ConfigError
from n2g_kb.n2g.config import DEFAULT_METHOD, N2GConfig
from n2g_kb.runners.shard import finish_sharded

if TYPE_CHECKING:  # the runner imports torch: only `n2gkb ingest` itself pays for it
    from n2g_kb.runners.ingest import IngestSummary, ProgressEvent

DEFAULT_AUGMENTER = N2GConfig().augment_model

_PANEL = "Ingest"
_SCALE = "Scale-out"
_STEP_NAMES = {
    "prune": "pruning",
    "saliency": "saliency",
    "augment": "augmenting",
    "saliency-augmented": "saliency (variants)",
    "trie": "building tries",
    "neurons": "neurons",
}


_STAGE_ORDER = ("prune", "saliency", "augment", "saliency-augmented", "trie")


class _RunProgress:
    """Neurons extracted in the whole run and per layer, counting the chunk in flight by
    how far its extraction stages have got, so the bars (and their ETAs) move inside a
    chunk too. Counts extraction, not writes: chunks are written in the background, so
    the written count lags (the layer bars never go below it)."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = max(1, chunk_size)
        self.total = 0
        self.skipped = 0
        self.base: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.extracted: dict[int, int] = {}
        self.partial = 0.0

    def layer(self, layer: int, done: int, total: int) -> float:
        """A layer event (its start, or a chunk written): the layer's neurons done."""
        self.base.setdefault(layer, done)
        self.sizes[layer] = total
        return max(float(done), self.layer_done(layer))

    def layer_done(self, layer: int) -> float:
        return self.base.get(layer, 0) + self.extracted.get(layer, 0) + self.partial

    def step(self, layer: int, stage: str, done: int, total: int) -> float:
        """A step event of the chunk in flight: the layer's fractional neurons done."""
        if stage == "neurons" and done >= total:
            self.extracted[layer] = self.extracted.get(layer, 0) + done
            self.partial = 0.0
        elif stage in _STAGE_ORDER:
            position = _STAGE_ORDER.index(stage) + (done / total if total else 0.0)
            left = self.sizes.get(layer, self.chunk_size) - self.base.get(layer, 0) - self.extracted.get(layer, 0)
            self.partial = max(0, min(self.chunk_size, left)) * position / len(_STAGE_ORDER)
        return self.layer_done(layer)

    def run_done(self) -> float:
        done = self.skipped + sum(self.extracted.values()) + self.partial
        return min(float(self.total), done) if self.total else done


class _Display:
    """Rich progress bars for the runner's events: the model load, the corpus pass,
    a bar for the whole run and one per layer (with ETAs, moving inside a chunk as its
    extraction stages advance) and a line for the current chunk's extraction step."""

    def __init__(self, progress: Progress, chunk_size: int = 64) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.run = _RunProgress(chunk_size)

    def _task(self, key: str, description: str, total: int | None) -> TaskID:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total)
        return self.tasks[key]

    def _close(self, key: str) -> None:
        if key in self.tasks:
            task = self.tasks.pop(key)
            self.progress.remove_task(task)

    def __call__(self, event: ProgressEvent) -> None:
        p = self.progress
        if event.stage == "load":
            self._task("load", f"Loading model {event.detail}", None)
        elif event.stage == "resume":
            self._close("load")
            self.run.total, self.run.skipped = event.total, event.done
            if event.done:
                p.console.print(
                    f"Resuming: {event.done:,} of {event.total:,} neurons are already in the knowledge base "
                    "(--force recomputes them)",
                    highlight=False,
                )
        elif event.stage == "mine":
            task = self._task("mine", "Mining corpus (tokens)", event.total or None)
            p.update(task, completed=event.done, total=max(event.total, event.done) or None)
        elif event.stage == "collect":
            task = self._task("collect", "Gathering top examples (windows)", event.total)
            p.update(task, completed=event.done, total=event.total)
        elif event.stage == "layer":
            done = self.run.layer(event.layer, event.done, event.total)
            task = self._task(f"layer{event.layer}", f"Layer {event.layer} (neurons)", event.total)
            p.update(task, completed=done, total=event.total)
            self._update_run()
        elif event.stage == "step":
            name = _STEP_NAMES.get(event.detail, event.detail)
            task = self._task("step", "", event.total)
            p.update(
                task, description=f"  layer {event.layer}: {name}", completed=event.done, total=max(event.total, 1)
            )
            if event.layer is not None and f"layer{event.layer}" in self.tasks:
                p.update(self.tasks[f"layer{event.layer}"], completed=self.run.step(event.layer, event.detail, event.done, event.total))
                self._update_run()
        elif event.stage == "info":
            p.console.print(f"[dim]{event.detail}[/dim]", highlight=False)
        elif event.stage == "done":
            self._close("step")

    def _update_run(self) -> None:
        if self.run.total:
            task = self._task("run", "All chosen neurons", self.run.total)
            self.progress.update(task, completed=self.run.run_done())


class _LogDisplay:
    """Plain progress lines for a log file or a pipe (no live bars there): stage changes,
    and at most one line per `every` seconds per stage, with an ETA for each layer."""

    def __init__(self, every: float = 15.0, chunk_size: int = 64) -> None:
        self.every = every
        self.last: dict[str, float] = {}
        self.started: dict[str, tuple[float, int]] = {}
        self.run = _RunProgress(chunk_size)

    def _due(self, key: str, final: bool) -> bool:
        now = time.monotonic()
        if final or now - self.last.get(key, -1e9) >= self.every:
            self.last[key] = now
            return True
        return False

    def _eta(self, key: str, done: int, total: int) -> str:
        now = time.monotonic()
        t0, d0 = self.started.setdefault(key, (now, done))
        if done >= total:
            return f"done in {_duration(now - t0)}"
        if done <= d0 or now <= t0:
            return "eta unknown"
        rate = (done - d0) / (now - t0)
        return f"eta {_duration((total - done) / rate)}"

    def __call__(self, event: ProgressEvent) -> None:
        say = err_console.print
        if event.stage == "load":
            say(f"Loading model {event.detail}", highlight=False)
        elif event.stage == "resume" and event.done:
            say(f"Resuming: {event.done:,} of {event.total:,} neurons are already in the knowledge base", highlight=False)
        elif event.stage in ("mine", "collect"):
            final = bool(event.total) and event.done >= event.total
            if self._due(event.stage, final):
                what = "Mining corpus" if event.stage == "mine" else "Gathering top examples"
                unit = "tokens" if event.stage == "mine" else "windows"
                say(f"{what}: {event.done:,}/{event.total:,} {unit} ({self._eta(event.stage, event.done, event.total)})", highlight=False)
        elif event.stage == "resume":
            self.run.total, self.run.skipped = event.total, event.done
        elif event.stage == "layer":
            self.run.layer(event.layer, event.done, event.total)
            key = f"layer{event.layer}"
            eta = self._eta(key, event.done, event.total)
            if event.done and self._due(key, event.done >= event.total):
                say(f"Layer {event.layer}: {event.done:,}/{event.total:,} neurons ({eta})", highlight=False)
            self._say_run(say, event.done >= event.total)
        elif event.stage == "step" and event.layer is not None:
            self.run.step(event.layer, event.detail, event.done, event.total)
            self._say_run(say, False)
        elif event.stage == "info":
            say(event.detail, highlight=False)

    def _say_run(self, say, final: bool) -> None:
        if not self.run.total:
            return
        done = self.run.run_done()
        if self._due("run", final and done >= self.run.total):
            eta = self._eta("run", int(done), self.run.total)
            say(f"All chosen neurons: {int(done):,}/{self.run.total:,} ({eta})", highlight=False)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _summary_table(summary: IngestSummary) -> Table:
    table = Table(title="Ingest summary", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("Model", summary.model),
        ("Run", summary.run_id),
        ("Layers", ", ".join(str(layer) for layer in summary.layers)),
        ("Neurons chosen", f"{summary.neurons_chosen:,}"),
        ("Written (ok)", f"{summary.written:,}"),
        ("Dead (never activate)", f"{summary.dead:,}"),
        ("Failed", f"{summary.failed:,}"),
        ("Already stored (skipped)", f"{summary.skipped:,}"),
        ("Time", f"{summary.seconds:,.1f} s"),
        ("Neurons / s", f"{summary.neurons_per_second:,.2f}"),
        ("Tokens mined", f"{summary.tokens_mined:,}" + (" (from checkpoint)" if summary.mined_from_checkpoint else "")),
    ]
    for stage in ("load_s", "mine_s", "extract_s", "write_s"):
        if stage in summary.timings:
            rows.append((f"  {stage[:-2]}", f"{summary.timings[stage]:,.1f} s"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def _ray_runner(address: str, workers: int | None):
    """`run_ingest`'s contract, the work spread over Ray (the workers reach the same Neo4j)."""
    from n2g_kb.runners.scale import RayOptions, run_ray_ingest

    scale = RayOptions(address=address, workers=workers)
    return lambda store, options, progress: run_ray_ingest(store, options, store.settings, scale, progress=progress)


def ingest(
    model: Annotated[str, typer.Argument(help="Hugging Face model name (e.g. gpt2) or a local checkpoint directory.")],
    layers: Annotated[
        str | None,
        typer.Option("--layers", help="Layers to ingest, e.g. 0-11 or 0-3,7 (with --sae: the SAE's layer).", rich_help_panel=_PANEL),
    ] = None,
    neurons: Annotated[
        str | None,
        typer.Option("--neurons", help="Neurons of each layer, e.g. 0-99,512 (default: all).", rich_help_panel=_PANEL),
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", help="Top examples mined per neuron (half train, half test).", rich_help_panel=_PANEL)
    ] = 20,
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus",
            envvar="N2GKB_CORPUS",
            help="Local .txt / .jsonl file or Hugging Face dataset name (default: one suited to the model).",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Corpus tokens to mine at most (0 = the whole corpus).", rich_help_panel=_PANEL)
    ] = 2_000_000,
    context: Annotated[
        int, typer.Option("--context", help="Tokens per mined window (BOS is added in front).", rich_help_panel=_PANEL)
    ] = 64,
    device: Annotated[
        str | None,
        typer.Option("--device", envvar="N2GKB_DEVICE", help="Torch device, e.g. cuda or cpu (default: cuda if available).", rich_help_panel=_PANEL),
    ] = None,
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            help="Model dtype: float32, float16, bfloat16, or auto (bfloat16 on a GPU that supports it, else float32).",
            rich_help_panel=_PANEL,
        ),
    ] = "float32",
    sae: Annotated[
        str | None,
        typer.Option(
            "--sae",
            help="Ingest the latents of this SAE or transcoder (SAELens layout: a local directory, or a Hugging Face "
            "OWNER/REPO or OWNER/REPO/FOLDER); stored as model MODEL@SAE.",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    latents: Annotated[
        str | None,
        typer.Option("--latents", help="With --sae: latents to ingest, e.g. 0-999 (default: all).", rich_help_panel=_PANEL),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Corpus windows per forward pass while mining (default 256 on GPU, 32 on CPU).", rich_help_panel=_PANEL),
    ] = None,
    augmenter: Annotated[
        str,
        typer.Option(
            "--augmenter",
            envvar="N2GKB_AUGMENTER",
            help="Masked LM proposing substitutes (HF name or local dir); 'none' disables augmentation.",
            rich_help_panel=_PANEL,
        ),
    ] = DEFAULT_AUGMENTER or "none",
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="Extraction method: 'n2g+' (improved: every firing token, back-off, calibrated on train) or 'paper' "
            "(Foote et al. 2023 as published).",
            rich_help_panel=_PANEL,
        ),
    ] = DEFAULT_METHOD,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name to store the model under (default: the HF name, or a local directory's name).", rich_help_panel=_PANEL),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Neurons extracted and written together (each neuron lands whole or not at all).", rich_help_panel=_PANEL)
    ] = 64,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute neurons already in the knowledge base.", rich_help_panel=_PANEL)
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Do only the I-th of N disjoint parts (mining included), e.g. 2/8 for a Slurm array task; "
            "then run the same command with --finish once.",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Spread the work over Ray workers, one per GPU (or CPU): 'local' starts a Ray for this run; "
            "an address (auto, HOST:6379, ray://HOST:10001) joins that cluster. Needs pip install 'n2g-kb[ray]'.",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="With --ray: how many workers (default one per GPU, else one per CPU).", rich_help_panel=_SCALE),
    ] = None,
    bulk: Annotated[
        bool,
        typer.Option(
            "--bulk",
            help="Into an empty managed knowledge base: build it at the end with neo4j-admin import (fastest); "
            "otherwise (data already there, or NEO4J_URI) the neurons are written over Bolt as usual.",
            rich_help_panel=_SCALE,
        ),
    ] = False,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish",
            help="After all --shard runs: check that every chosen neuron is stored and mark the run finished.",
            rich_help_panel=_SCALE,
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="If the name holds a different model (another source or shape), delete it and ingest this one.",
            rich_help_panel=_PANEL,
        ),
    ] = False,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Mine top examples, extract every chosen neuron's N2G graph and write it to Neo4j.

    Resumable: run the same command again after an interruption and it continues where
    it stopped; neurons already stored are skipped unless --force.
    """
    with cli_errors():
        from n2g_kb.runners.ingest import IngestOptions, run_ingest

        options = IngestOptions(
            model=model,
            layers=layers,
            neurons=neurons,
            examples=examples,
            corpus=corpus,
            max_tokens=max_tokens or None,
            context=context,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            augmenter=augmenter,
            name=name,
            force=force,
            replace=replace,
            chunk_size=chunk_size,
            method=method,
            shard=shard,
            sae=sae,
            latents=latents,
        )
        if finish and shard:
            raise ConfigError("--finish closes the whole ingest: run it once, without --shard, after every shard")
        if sae is not None and ray is not None:
            raise ConfigError("--sae does not run on Ray yet; run it without --ray (--shard I/N splits it across processes)")
        if workers is not None and ray is None:
            raise ConfigError("--workers needs --ray (e.g. --ray local --workers 4)")
        run = run_ingest if ray is None else _ray_runner(ray, workers)
        settings = connection(uri, user, password, database)
        if bulk and ray is None and shard is None and settings.managed:
            import functools

            from n2g_kb.kb.localdb import LocalNeo4j
            from n2g_kb.settings import LocalServerSettings

            run = functools.partial(run_ingest, bulk=LocalNeo4j(LocalServerSettings.from_env()))
        with open_store(settings) as store:
            if finish:
                done = finish_sharded(store, options)
                console.print(
                    f"Run {done.run_id} finished: all {done.neurons_chosen:,} neurons are stored "
                    f"({done.written:,} ok, {done.dead:,} dead).",
                    highlight=False,
                )
                return
            if err_console.is_terminal:
                columns = (
                    SpinnerColumn(),
                    TextColumn("[progress.description]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    TextColumn("eta"),
                    TimeRemainingColumn(),
                )
                with Progress(*columns, console=err_console, transient=False) as progress:
                    summary = run(store, options, progress=_Display(progress, chunk_size))
            else:
                summary = run(store, options, progress=_LogDisplay(chunk_size=chunk_size))
        console.print(_summary_table(summary))
        if shard:
            err_console.print(
                f"Shard {shard} is done; once every shard is, run the same command with --finish instead of --shard.",
                highlight=False,
            )
        if summary.failed:
            err_console.print(
                f"[yellow]{summary.failed:,} neurons failed[/yellow] (their errors are on the Neuron nodes); "
                "run the same command again to retry them.",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    """Adds `n2gkb ingest` to the app."""
    app.command("ingest")(ingest)
