"""What every command shares: connection options, one-line errors, the console."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from n2g_kb.errors import ConfigError, N2GKBError

try:  # typer >= 0.2x carries its own copy of click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - typer on the click package
    from click import get_current_context
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


def _check_text(ctx) -> None:
    """Arguments are UTF-8 text: bytes that are not (a lone surrogate once decoded) are
    refused here, at the door, instead of failing deep in a tokenizer or the driver."""
    for name, value in (ctx.params if ctx is not None else {}).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, Path)):
                try:
                    str(item).encode("utf-8")
                except UnicodeEncodeError:
                    raise ConfigError(
                        f"{name.replace('_', '-')} {ascii(str(item))[:80]} is not valid UTF-8 text (it holds bytes that "
                        "are not UTF-8, seen here as lone surrogates); pass UTF-8 text"
                    ) from None


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turns the project's own errors into one line on stderr and exit code 1."""
    try:
        _check_text(get_current_context(silent=True))
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
