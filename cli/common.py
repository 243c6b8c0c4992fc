"""What every command shares: connection options, one-line errors, the console."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console

from n2g_kb.errors import N2GKBError
from n2g_kb.settings import ConnectionSettings, resolve

console = Console()
err_console = Console(stderr=True)

UriOpt = Annotated[
    str | None,
    typer.Option("--uri", envvar="NEO4J_URI", help="Neo4j URI; unset = the managed local Neo4j.", rich_help_panel="Neo4j"),
]
UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="NEO4J_USER", help="Neo4j user (default neo4j).", rich_help_panel="Neo4j")
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password", envvar="NEO4J_PASSWORD", help="Neo4j password.", show_default=False, rich_help_panel="Neo4j"
    ),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", envvar="NEO4J_DATABASE", help="Neo4j database (default neo4j).", rich_help_panel="Neo4j"),
]


def connection(uri: str | None, user: str | None, password: str | None, database: str | None) -> ConnectionSettings:
    return resolve(uri=uri, user=user, password=password, database=database)


def status(message: str) -> None:
    err_console.print(f"[dim]{message}[/dim]")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/bold red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turns the project's own errors into one line on stderr and exit code 1."""
    try:
        yield
    except N2GKBError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        raise fail("Interrupted. Everything written so far is kept; run the same command again to resume.", 130) from None


@contextlib.contextmanager
def open_store(settings: ConnectionSettings) -> Iterator:
    """The driver (owned here, by the CLI) wrapped in a Store; starts the managed Neo4j on demand."""
    from n2g_kb.kb.db import open_store as open_library_store

    with open_library_store(settings, on_status=status) as store:
        yield store
