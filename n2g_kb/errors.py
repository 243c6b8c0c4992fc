"""The project's errors: one root, a few kinds.

Every expected failure raises an `N2GKBError` subclass with a message that says what
to do next; the CLI prints that message on one line and exits with code 1. Driver
exceptions are wrapped only at the database boundary (`n2g_kb.kb.db`, `n2g_kb.kb.store`).
"""

from __future__ import annotations


class N2GKBError(Exception):
    """Root of every error n2g-kb raises on purpose."""


class ConfigError(N2GKBError):
    """A setting or an option has a value that cannot be used."""


class SelectionError(ConfigError):
    """A layer or neuron selection is malformed or out of range."""


class ModelError(N2GKBError):
    """A model (or masked LM) could not be loaded or is not supported."""


class CorpusError(N2GKBError):
    """A corpus is missing, unreadable, empty or too short."""


class DatabaseError(N2GKBError):
    """Neo4j is unreachable, refuses the credentials, or a query failed."""


class LocalServerError(DatabaseError):
    """The managed local Neo4j could not be assembled, started or stopped."""


class NotFoundError(N2GKBError):
    """A model, neuron or graph asked for is not in the knowledge base."""
