"""Tables built from the knowledge base and kept per knowledge-base version.

The in-memory matcher (`n2g_kb.kb.matcher`) and the token-set index of `similar`
(`n2g_kb.kb.similarity`) are built from the database once per knowledge-base version
(`KnowledgeBase.version`, bumped by every neuron write), kept in memory, and cached on
disk so that a later process whose database has the same id and version loads the file
instead of reading the graph again. A table has `kb_id`, `version`, `save(path)` and a
classmethod `load(path)` (None when the file is missing or unreadable).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """Where the tables are cached on disk: ``<n2g-kb cache dir>/matchers``."""
    from n2g_kb.settings import cache_dir

    return cache_dir() / "matchers"


def cache_path(directory: Path, identity: str, model: str | None, kind: str = "matcher") -> Path:
    digest = hashlib.sha256(f"{identity}\0{model or ''}".encode()).hexdigest()[:16]
    return directory / f"{kind}-{digest}.pkl"


def load_versioned(
    store: Any,
    model: str | None,
    *,
    kind: str,
    table: Any,
    memory: dict,
    directory: Path,
    build: Callable[[str | None, int], Any],
    state: tuple[Any, int] | None = None,
) -> Any:
    """`table` (a class) of `model` for the knowledge base's current version: from
    `memory`, else from the file in `directory`, else `build(kb_id, version)` (then saved,
    unless a write landed while it was read). `state`: the (id, version) just read."""
    kb_id, version = state[:2] if state is not None else store.kb_version()
    identity = f"{store.identity()}\0{kb_id}"
    key = (identity, model)
    with _LOCK:
        cached = memory.get(key)
        if cached is not None and cached.version == version:
            return cached
    path = cache_path(directory, identity, model, kind)
    found = table.load(path)
    if found is None or found.kb_id != kb_id or found.version != version:
        found = build(kb_id, version)
        if store.kb_version() == (kb_id, version):  # no write landed while reading: safe to keep
            try:
                found.save(path)
            except OSError:
                pass  # a read-only cache dir only costs the next process a rebuild
    with _LOCK:
        memory[key] = found
    return found


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Pickles `state` to `path` atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=5)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path, fmt: int) -> dict[str, Any] | None:
    """What `save_state` wrote, when its "format" is `fmt`; None otherwise or unreadable."""
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("format") != fmt:
        return None
    state.pop("format")
    return state
