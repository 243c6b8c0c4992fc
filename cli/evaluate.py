"""`n2gkb evaluate`: score the stored graphs and report by layer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DatabaseOpt, PasswordOpt, UriOpt, UserOpt, cli_errors, connection, console, err_console, open_store

EVALUATE_HELP = "\n\n".join(
    [
        "Score the stored N2G graphs of MODEL's neurons.",
        "Each neuron's trie is read back from Neo4j and predicts the activations of the neuron's held-out test "
        "examples (stored at ingest). Firing and non-firing precision, recall and F1 (a token fires at >= --threshold "
        "of the neuron's max activation) are written back onto the Neuron node with evaluated_at and "
        "eval_settings_json, next to the token-lookup and n-gram baselines. Prints the per-layer table; --out DIR "
        "also writes table.md, table.csv, table.json, f1_by_layer.png and neurons.csv.",
        "With --corpus, the model runs over that text for ground truth instead, and the figures are stored with the "
        "prefix corpus_ (corpus_f1, ...), leaving the held-out ones as they are.",
        "Neurons that cannot be scored (dead, failed, no graph, no test examples) are listed and skipped. A selection "
        "that matches no stored neuron is an error (exit code 1).",
    ]
)

Layers = Annotated[str | None, typer.Option("--layers", help="Layers to score, e.g. 0-3,7 (default: all stored).")]
Neurons = Annotated[str | None, typer.Option("--neurons", help="Neurons to score in each layer, e.g. 0-99 (default: all stored).")]
Threshold = Annotated[float, typer.Option("--threshold", help="Firing threshold, as a fraction of each neuron's max activation.")]
NGram = Annotated[int, typer.Option("--ngram-context", help="Prior tokens the n-gram baseline conditions on.")]
Out = Annotated[
    Path | None,
    typer.Option("--out", help="Folder for table.md, table.csv, table.json, f1_by_layer.png, neurons.csv.", file_okay=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout (for scripts).")]
Write = Annotated[bool, typer.Option("--write/--no-write", help="Store the figures on the Neuron nodes.")]
Corpus = Annotated[
    str | None,
    typer.Option("--corpus", help="Score on new text: a .txt/.jsonl file or a Hugging Face dataset.", rich_help_panel="New text"),
]
ModelPath = Annotated[
    str | None,
    typer.Option(
        "--model-path",
        help="Where to load MODEL from for --corpus (default: the source ingest recorded, else MODEL).",
        rich_help_panel="New text",
    ),
]
Context = Annotated[int, typer.Option("--context", help="Corpus tokens per window.", rich_help_panel="New text")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", help="Corpus tokens to score at most.", rich_help_panel="New text")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Windows per forward pass.", rich_help_panel="New text")]
Device = Annotated[str | None, typer.Option("--device", help="cpu, cuda, ... (default: best).", rich_help_panel="New text")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32, float16 or bfloat16.", rich_help_panel="New text")]
TextField = Annotated[str, typer.Option("--text-field", help="Text field of .jsonl / dataset rows.", rich_help_panel="New text")]
Split = Annotated[str, typer.Option("--split", help="Dataset split.", rich_help_panel="New text")]


@contextmanager
def _progress(quiet: bool) -> Iterator:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update


_TERMINAL = {
    "layer": "Layer",
    "neurons": "Neurons",
    "precision": "P",
    "recall": "R",
    "f1": "F1",
    "nonfiring_precision": "NF P",
    "nonfiring_recall": "NF R",
    "nonfiring_f1": "NF F1",
    "baseline_token_f1": "Token",
    "baseline_ngram_f1": "N-gram",
}


def _print_table(evaluation, table) -> None:
    """The layer table, compact enough for an 80-column terminal (table.md has it all)."""
    from rich import box
    from rich.table import Table

    from n2g_kb.views.report import DATA, skipped_summary

    grid = Table(
        title=f"{evaluation.model}: N2G on {DATA[evaluation.kind]}",
        title_justify="left",
        caption="P/R/F1: firing tokens; NF: non-firing tokens; Token, N-gram: baseline F1",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
    )
    for column, label in _TERMINAL.items():
        grid.add_column(label, justify="left" if column == "layer" else "right", no_wrap=True)
    for i, row in enumerate(table.to_dict(orient="records")):
        cells = []
        for column in _TERMINAL:
            value = row[column]
            if isinstance(value, float):
                cells.append("–" if value != value else f"{value:.3f}")
            else:
                cells.append(str(value))
        grid.add_row(*cells, end_section=i == len(table) - 2)  # a rule above the "all" row
    console.print(grid)
    summary = skipped_summary(evaluation)
    if summary:
        console.print("Skipped: " + ", ".join(f"{count} {kind}" for kind, count in summary), highlight=False)
    if not evaluation.scored:
        console.print("No selected neuron could be scored; see the reasons above.", highlight=False)


def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="Model name as stored (as given to `n2gkb ingest`).")],
    layers: Layers = None,
    neurons: Neurons = None,
    threshold: Threshold = 0.5,
    ngram_context: NGram = 1,
    out: Out = None,
    as_json: AsJson = False,
    write: Write = True,
    corpus: Corpus = None,
    model_path: ModelPath = None,
    context: Context = 64,
    max_tokens: MaxTokens = 20_000,
    batch_size: BatchSize = 16,
    device: Device = None,
    dtype: Dtype = "float32",
    text_field: TextField = "text",
    split: Split = "train",
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    with cli_errors():
        from n2g_kb.runners.evaluate import CorpusOptions, EvalSettings, corpus_windows, evaluate_on_corpus, evaluate_stored
        from n2g_kb.views.report import layer_table, report_dict, write_report
        from n2g_kb.selection import parse_ranges
        from n2g_kb.settings import output_path

        settings = EvalSettings(threshold=threshold, ngram_context=ngram_context)
        layer_sel = parse_ranges(layers, "--layers") if layers is not None else None
        neuron_sel = parse_ranges(neurons, "--neurons") if neurons is not None else None
        options = CorpusOptions(context=context, max_tokens=max_tokens, batch_size=batch_size)
        if out is not None:
            output_path(out, "--out", directory=True)  # before anything is computed or stored
        source = None
        if corpus is not None:
            from n2g_kb.runners.corpus import resolve_corpus

            source = resolve_corpus(corpus, model, split=split, text_field=text_field)
        with open_store(connection(uri, user, password, database)) as store, _progress(as_json) as progress:
            if source is None:
                evaluation = evaluate_stored(store, model, layer_sel, neuron_sel, settings, write=write, progress=progress)
            else:
                from n2g_kb.runners.corpus import iter_documents
                from n2g_kb.runners.evaluate import model_source, sae_source, select_neurons
                from n2g_kb.lm.model import load_model
                from n2g_kb.lm.sae import load_sae

                select_neurons(store, model, layer_sel, neuron_sel)  # fail fast, before loading the model
                model_path = model_path or model_source(store, model)
                sae_path = sae_source(store, model)
                sae = load_sae(sae_path) if sae_path else None
                loaded = load_model(model_path, device=device, dtype=dtype)
                if sae is not None:  # the stored units are this SAE's latents
                    loaded.attach_sae(sae)
                windows = corpus_windows(loaded, iter_documents(source), options)
                evaluation = evaluate_on_corpus(
                    store,
                    loaded,
                    model,
                    windows,
                    layer_sel,
                    neuron_sel,
                    settings,
                    options,
                    corpus={**source.identity(), "model_path": model_path},
                    write=write,
                    progress=progress,
                )
        table = layer_table(evaluation)
        paths = write_report(evaluation, out) if out is not None else {}
        if as_json:
            payload = report_dict(evaluation, table)
            payload["files"] = {name: str(path) for name, path in paths.items()}
            typer.echo(json.dumps(payload, default=str))
            return
        _print_table(evaluation, table)
        if write and evaluation.written:
            target = "the corpus_* properties of " if evaluation.kind == "corpus" else ""
            console.print(f"Stored the figures on {target}{evaluation.written} Neuron nodes.", highlight=False)
        if paths:
            console.print(f"Report written to {out}: {', '.join(paths)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `n2gkb evaluate` to the app."""
    app.command("evaluate", help=EVALUATE_HELP)(evaluate_cmd)
