"""Opening a driver: the boundary where driver exceptions become `DatabaseError`.

The CLI owns the driver (`open_driver` as a context manager) and hands it, with the
database name, to `n2g_kb.kb.store.Store`. With no NEO4J_URI the managed local Neo4j is
started on demand.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import neo4j
from neo4j import GraphDatabase
from neo4j import exceptions as nx

from n2g_kb.errors import DatabaseError
from n2g_kb.settings import ConnectionSettings, LocalServerSettings

if TYPE_CHECKING:
    from n2g_kb.kb.store import Store

# The driver logs a warning for every retry while Neo4j is down; they are for programs
# that configure logging (they still propagate to the root logger), not for CLI users,
# who get one line once the retries are over.
logging.getLogger("neo4j").addHandler(logging.NullHandler())

RETRY_S = 2.0
"""How long the driver retries a transaction that failed for a transient reason or a lost
connection: lock waits and a restarting server are ridden out, and a Neo4j that died
is an error within seconds (well under 15 s with the writes still queued)."""
CONNECT_TIMEOUT_S = 5.0


def _hint(settings: ConnectionSettings) -> str:
    if settings.managed:
        return "start it with `n2gkb db start`, or set NEO4J_URI to a Neo4j you run"
    return "check that Neo4j runs there (`docker compose up -d`) and that NEO4J_URI is right, or unset NEO4J_URI to use the managed local Neo4j"


def wrap(e: Exception, settings: ConnectionSettings) -> DatabaseError:
    """A one-line DatabaseError for a driver exception (never includes the password)."""
    if isinstance(e, nx.AuthError):
        fix = (
            "the managed server's password file may be out of date; see `n2gkb db status`"
            if settings.managed
            else "set NEO4J_USER / NEO4J_PASSWORD to the right credentials"
        )
        return DatabaseError(f"Neo4j at {settings.uri} refused the credentials of user {settings.user!r}: {fix}")
    if isinstance(e, (nx.ServiceUnavailable, nx.SessionExpired, OSError)):
        return DatabaseError(f"Cannot reach Neo4j at {settings.uri}: {_hint(settings)}")
    if isinstance(e, nx.ConfigurationError):
        return DatabaseError(f"Neo4j configuration problem for {settings.uri}: {e}")
    if isinstance(e, nx.ClientError) and "database" in str(e).lower() and "not found" in str(e).lower():
        return DatabaseError(f"Database {settings.database!r} does not exist on {settings.uri}; set NEO4J_DATABASE to one that does")
    if isinstance(e, nx.Neo4jError):
        msg = (e.message or str(e)).splitlines()[0]
        return DatabaseError(f"Neo4j error ({e.code}): {msg}")
    return DatabaseError(f"Neo4j driver error: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


def resolve_connection(settings: ConnectionSettings, on_status: Callable[[str], None] | None = None) -> ConnectionSettings:
    """For managed settings, start the local server if needed and fill in its password."""
    if not settings.managed:
        return settings
    from n2g_kb.kb.localdb import LocalNeo4j

    server = LocalNeo4j(LocalServerSettings.from_env())
    return server.ensure_running(settings.database, on_status=on_status)


def connect(settings: ConnectionSettings, retry_s: float = 0.0) -> neo4j.Driver:
    """A verified driver; retries connection refusals for `retry_s` seconds (server starting)."""
    auth = (settings.user, settings.password or "")
    deadline = time.monotonic() + retry_s
    while True:
        driver = None
        try:
            driver = GraphDatabase.driver(
                settings.uri,
                auth=auth,
                connection_timeout=CONNECT_TIMEOUT_S,
                max_transaction_retry_time=RETRY_S,
                max_connection_lifetime=3600,
                # Server notifications (e.g. "property key does not exist" on a fresh
                # database) are advice for query authors, not for CLI users.
                notifications_min_severity="OFF",
            )
            driver.verify_connectivity()
            with driver.session(database=settings.database) as session:
                session.run("RETURN 1").consume()
            return driver
        except (nx.ServiceUnavailable, nx.SessionExpired, OSError) as e:
            if driver is not None:
                driver.close()
            if time.monotonic() >= deadline:
                raise wrap(e, settings) from e
            time.sleep(0.5)
        except (nx.Neo4jError, nx.DriverError, ValueError) as e:
            if driver is not None:
                driver.close()
            raise wrap(e, settings) from e


@contextlib.contextmanager
def open_driver(
    settings: ConnectionSettings, on_status: Callable[[str], None] | None = None
) -> Iterator[tuple[neo4j.Driver, ConnectionSettings]]:
    """Start (if managed) and connect; yields the driver and the resolved settings."""
    resolved = resolve_connection(settings, on_status=on_status)
    driver = connect(resolved, retry_s=60.0 if resolved.managed else 0.0)
    try:
        yield driver, resolved
    finally:
        driver.close()


@contextlib.contextmanager
def open_store(
    settings: ConnectionSettings | None = None, on_status: Callable[[str], None] | None = None
) -> Iterator[Store]:
    """A `Store` on the configured Neo4j (NEO4J_* variables, else the managed local one).

    For notebooks and scripts::

        from n2g_kb.kb.db import open_store
        from n2g_kb.kb import query
        with open_store() as store:
            df = query.in_context(store, " Paris", " in")
    """
    from n2g_kb.settings import resolve
    from n2g_kb.kb.store import Store

    with open_driver(settings or resolve(), on_status=on_status) as (driver, resolved):
        yield Store(driver, resolved.database, settings=resolved)
