"""`n2gkb db ...`: the managed local Neo4j and the schema."""

from __future__ import annotations

import typer

from cli.common import DatabaseOpt, PasswordOpt, UriOpt, UserOpt, cli_errors, connection, console, open_store, status
from n2g_kb.errors import ConfigError

app = typer.Typer(help="Run and inspect the Neo4j that holds the knowledge base.", no_args_is_help=True)


def _local():
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.settings import LocalServerSettings

    return LocalNeo4j(LocalServerSettings.from_env())


@app.command()
def start() -> None:
    """Start the managed local Neo4j (assembled from Maven Central on first use)."""
    with cli_errors():
        server = _local()
        pid, started = server.start(on_status=status)
        info = server.info()
        verb = "Started" if started else "Already running:"
        console.print(f"{verb} Neo4j {info.version} (pid {pid}) at {info.bolt_uri}")
        console.print(f"Neo4j Browser: {info.http_url}  (user neo4j, password in {server.password_file})")
        console.print(f"Data: {info.data_dir}")


@app.command()
def stop() -> None:
    """Stop the managed local Neo4j (its data stays)."""
    with cli_errors():
        server = _local()
        pid = server.stop()
        console.print(f"Stopped Neo4j (pid {pid})." if pid else "The managed Neo4j was not running.")


@app.command("status")
def status_cmd(uri: UriOpt = None, user: UserOpt = None, password: PasswordOpt = None, database: DatabaseOpt = None) -> None:
    """Where the knowledge base is, which Neo4j serves it, and how big it is."""
    with cli_errors():
        settings = connection(uri, user, password, database)
        if settings.managed:
            server = _local()
            info = server.info()
            if not info.running:
                console.print(f"Managed local Neo4j {info.version}: not running (start it with `n2gkb db start`)")
                console.print(f"Data dir: {info.data_dir}")
                return
            settings = server.connection(settings.database)
        from n2g_kb.kb.db import connect
        from n2g_kb.kb.store import Store

        driver = connect(settings, retry_s=30.0 if settings.managed else 0.0)
        try:
            store = Store(driver, settings.database, settings=settings)
            version = store.server_version()
            counts = store.counts()
        finally:
            driver.close()
        console.print(f"URI:            {settings.uri}")
        console.print(f"Neo4j version:  {version}")
        console.print(f"Database:       {settings.database}")
        if settings.managed:
            console.print(f"Process id:     {info.pid}")
            console.print(f"Data dir:       {info.data_dir}")
            console.print(f"Neo4j Browser:  {info.http_url}")
        console.print(f"Nodes:          {counts['nodes']:,}")
        console.print(f"Relationships:  {counts['relationships']:,}")


@app.command()
def init(uri: UriOpt = None, user: UserOpt = None, password: PasswordOpt = None, database: DatabaseOpt = None) -> None:
    """Create the constraints and indexes of the graph model (safe to run again)."""
    with cli_errors():
        with open_store(connection(uri, user, password, database)) as store:
            store.init_schema()
        console.print("Schema ready: constraints and indexes are online.")


@app.command()
def password() -> None:
    """Print the managed local Neo4j's password (for Neo4j Browser)."""
    with cli_errors():
        server = _local()
        if not server.password_file.exists():
            raise ConfigError("The managed Neo4j has not been started yet; run `n2gkb db start` first")
        typer.echo(server.password())
