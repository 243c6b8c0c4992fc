"""`n2gkb site`: a static site, one page per neuron, that works offline from file://."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import DatabaseOpt, PasswordOpt, UriOpt, UserOpt, cli_errors, connection, console, err_console, open_store


def site_cmd(
    out: Annotated[Path, typer.Argument(help="Folder to write the site to (created).", file_okay=False)],
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Only this model (repeatable; default: all).")] = None,
    layers: Annotated[str | None, typer.Option("--layers", "--layer", "-l", help="Only these layers, e.g. 0-2,5.")] = None,
    uri: UriOpt = None,
    user: UserOpt = None,
    password: PasswordOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Write a static site: an index with per-layer tables and a token search, and one page
    per neuron (graph with legend, highlighted examples, scores next to the baselines,
    similar neurons). Open OUT/index.html in a browser; no server needed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from n2g_kb.selection import parse_ranges
    from n2g_kb.views.site import build_site, has_graphviz

    with cli_errors():
        chosen_layers = parse_ranges(layers, "--layers") if layers is not None else None
        if not has_graphviz():
            err_console.print("[dim]Graphviz's dot is not installed: pages show the patterns as text instead of a drawn graph.[/dim]")
        with open_store(connection(uri, user, password, database)) as store, Progress(
            TextColumn("Writing pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console, transient=True
        ) as bar:
            task = bar.add_task("pages", total=None)
            summary = build_site(
                store, out, models=model or None, layers=chosen_layers,
                progress=lambda _s, done, total: bar.update(task, completed=done, total=total),
            )
        console.print(f"Wrote {summary.pages:,} neuron pages to {out}; open {out / 'index.html'}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("site")(site_cmd)
