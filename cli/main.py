"""The `n2gkb` command: a thin shell over the n2g_kb library."""

from __future__ import annotations

import os

import typer

# Library chatter (hub retries, weight-loading notes) would bury the one-line errors and
# the progress bars; the user can still ask for it by setting these variables.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_VERBOSITY", "error")
os.environ.setdefault("DATASETS_VERBOSITY", "error")

from cli import db, evaluate, exchange, ingest, search, site

app = typer.Typer(
    name="n2gkb",
    help="n2g-kb: a Neo4j knowledge base of language-model neuron behaviour, built with N2G.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(db.app, name="db")
ingest.register(app)
search.register(app)
evaluate.register(app)
exchange.register(app)
site.register(app)


@app.command()
def version() -> None:
    """Print the n2g-kb version."""
    from n2g_kb import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
