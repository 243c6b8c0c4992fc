"""`n2gkb export` / `n2gkb import`: share a knowledge base as Parquet and JSONL files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DatabaseOpt, PasswordOpt, UriOpt, UserOpt, cli_errors, connection, console, err_console, open_store


@contextmanager
def _bar(what: str) -> Iterator:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err_console, transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def update(_stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def export_cmd(
    model: Annotated[str, typer.Argument(help="Model name as stored (see `n2gkb search models`).")],
    out: Annotated[Path, typer.Argument(help="Folder to write (created; earlier export files replaced).", file_okay=False)],
    formats: Annotated[
        str, typer.Option("--format", help="parquet, jsonl, or both (comma-separated).")
    ] = "parquet,jsonl",
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Export MODEL's neurons, trie rows, summary edges, examples and runs to Parquet and JSONL.

    The folder can be imported into any Neo4j with `n2gkb import`; the same queries then give
    the same answers, with no model run and no GPU."""
    from n2g_kb.kb.exchange import export

    with cli_errors():
        with open_store(connection(uri, user, password, database)) as store, _bar("Exporting neurons") as progress:
            summary = export(store, [model], out, [f.strip() for f in formats.split(",") if f.strip()], progress)
        counts = ", ".join(f"{v:,} {k}" for k, v in summary.counts.items())
        console.print(f"Exported {', '.join(summary.models)} to {summary.folder}: {counts}", highlight=False)


def import_cmd(
    folder: Annotated[Path, typer.Argument(help="A folder written by `n2gkb export`.", file_okay=False)],
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Neurons written per transaction.")] = 64,
    bulk: Annotated[
        bool,
        typer.Option(
            "--bulk/--no-bulk",
            help="Into the managed local Neo4j while it is still empty, build the database with neo4j-admin "
            "import (the server restarts once; several times faster). --no-bulk writes over Bolt.",
        ),
    ] = True,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Import an exported knowledge base into this Neo4j (neurons with the same key are replaced)."""
    from n2g_kb.kb.exchange import import_folder

    with cli_errors():
        settings = connection(uri, user, password, database)
        server = None
        if bulk and settings.managed:
            from n2g_kb.kb.localdb import LocalNeo4j
            from n2g_kb.settings import LocalServerSettings

            server = LocalNeo4j(LocalServerSettings.from_env())
        with open_store(settings) as store, _bar("Importing neurons") as progress:
            counts = import_folder(store, folder, chunk_size=chunk_size, progress=progress, bulk=server,
                                   on_status=lambda msg: err_console.print(f"bulk import: {msg}", highlight=False))  # fmt: skip
        how = f" (bulk import, {counts['elements_per_s']:,.0f} nodes+relationships/s)" if counts["bulk"] else ""
        console.print(
            f"Imported {counts['neurons']:,} neurons of {counts['models']} model(s) and {counts['runs']} run(s) from {folder}{how}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Adds `n2gkb export` and `n2gkb import`."""
    app.command("export")(export_cmd)
    app.command("import")(import_cmd)
