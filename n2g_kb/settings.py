"""Connection settings: one place that reads NEO4J_* from the environment.

With no `NEO4J_URI`, n2g-kb uses the managed local Neo4j (`n2g_kb.kb.localdb`), which it
assembles, starts and owns; its password is generated once and kept in the per-user data
dir (mode 0600). With `NEO4J_URI` set, n2g-kb connects there with `NEO4J_USER` /
`NEO4J_PASSWORD`. The password is never part of `repr()` or any message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from n2g_kb.errors import ConfigError

DEFAULT_USER = "neo4j"
DEFAULT_DATABASE = "neo4j"


def _env_path(var: str, fallback: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else fallback


def cache_dir() -> Path:
    """Per-user cache of the assembled Neo4j jars (safe to delete; re-assembled on demand)."""
    xdg = _env_path("XDG_CACHE_HOME", Path.home() / ".cache")
    return _env_path("N2GKB_CACHE_DIR", xdg / "n2g-kb")


def data_dir() -> Path:
    """Per-user data dir of the managed local Neo4j (the knowledge base lives here)."""
    xdg = _env_path("XDG_DATA_HOME", Path.home() / ".local" / "share")
    return _env_path("N2GKB_DATA_DIR", xdg / "n2g-kb")


OWN_ENTRIES = frozenset({"neo4j", "runs"})
"""What n2g-kb keeps in its data dir; a data dir holding only these is n2g-kb's own."""


def private_dir(path: Path, what: str = "N2GKB_DATA_DIR", own: bool = False) -> Path:
    """`path` as a directory only its owner can enter (mode 0700), created (with any missing
    parents, in the default mode) when needed; a path that is a file or cannot be created
    is a ConfigError.
    An existing directory is made private only when it holds nothing but n2g-kb's own
    entries, or is `own` (n2g-kb's by construction, e.g. the Neo4j home), so pointing
    N2GKB_DATA_DIR at a shared folder never changes that folder."""
    path = Path(path)
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        if missing:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700)
        if not path.is_dir():
            raise NotADirectoryError(f"{path} is a file")
        if path.stat().st_mode & 0o077 and (own or path in missing or {p.name for p in path.iterdir()} <= OWN_ENTRIES):
            path.chmod(0o700)
    except FileExistsError:
        return private_dir(path, what, own)  # made by a process running beside this one
    except OSError as e:
        reason = e.strerror or str(e)
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            reason = f"{existing} is a file, not a directory"
        raise ConfigError(f"{what} {path} cannot be used ({reason}); set N2GKB_DATA_DIR to a directory you can write") from None
    return path


def output_path(path: str | Path, option: str, directory: bool = False) -> Path:
    """`path` ready to be written: its folder (or, with `directory`, itself) created and
    writable. Checked before any work, so a bad path costs nothing; else a ConfigError."""
    target = Path(path).expanduser()
    folder = target if directory else target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
        if not directory and target.is_dir():
            raise IsADirectoryError("it is a directory")
    except OSError as e:
        raise output_error(path, option, e) from None
    return target


def output_error(path: str | Path, option: str, error: OSError) -> ConfigError:
    """The one-line error for an output path that could not be written."""
    reason = error.strerror or str(error) or type(error).__name__
    existing = next((p for p in (Path(path), *Path(path).parents) if p.exists()), None)
    if existing is not None and existing != Path(path) and not existing.is_dir():
        reason = f"{existing} is a file, not a directory"
    return ConfigError(f"{option} {path}: cannot write there ({reason}); choose a path you can write")


def check_device(device: str | None, available: bool = True) -> str | None:
    """`device` when torch can run on it (None = choose the best), else a ConfigError naming
    the devices that exist (so `--device tpu` is not blamed on the model hub). With
    `available` False only the name is checked, not that this machine has the device."""
    if device is None:
        return None
    import torch

    text = str(device).strip()
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    usable = {
        "cpu": lambda: True,
        "cuda": torch.cuda.is_available,
        "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if parsed.type not in usable:
        raise ConfigError(f"--device {device!r}: n2g-kb runs on cpu, cuda or mps, not {parsed.type}")
    if not available:
        return text
    if not usable[parsed.type]():
        raise ConfigError(f"--device {device!r}: no {parsed.type} device is available here; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0 .. "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    return text


def _port(var: str, default: int) -> int:
    raw = os.environ.get(var)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a port number; use an integer 1-65535") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{var}={port} is out of range; use a port 1-65535")
    return port


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to reach Neo4j. `managed` means the local server n2g-kb runs itself."""

    uri: str
    user: str = DEFAULT_USER
    password: str | None = field(default=None, repr=False)
    database: str = DEFAULT_DATABASE
    managed: bool = False

    def __post_init__(self) -> None:
        if not self.uri.startswith(("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")):
            raise ConfigError(
                f"NEO4J_URI {self.uri!r} is not a Neo4j URI; use e.g. bolt://localhost:7687 or neo4j+s://<host>"
            )
        if not self.database:
            raise ConfigError("NEO4J_DATABASE is empty; leave it unset for the default database 'neo4j'")

    def describe(self) -> str:
        where = "managed local Neo4j" if self.managed else "Neo4j"
        return f"{where} at {self.uri} (user {self.user}, database {self.database})"


@dataclass(frozen=True)
class LocalServerSettings:
    """Where the managed local Neo4j keeps its jars and data, and which ports it listens on."""

    cache_dir: Path
    data_dir: Path
    bolt_port: int = 7687
    http_port: int = 7474
    heap: str = "1g"
    pagecache: str = "512m"

    @classmethod
    def from_env_dict(cls, env: dict[str, str]) -> LocalServerSettings:
        """Settings as they would be read from `env` laid over the current environment."""
        saved = {k: os.environ.get(k) for k in env}
        try:
            os.environ.update(env)
            return cls.from_env()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    @classmethod
    def from_env(cls) -> LocalServerSettings:
        return cls(
            cache_dir=cache_dir(),
            data_dir=data_dir(),
            bolt_port=_port("N2GKB_BOLT_PORT", 7687),
            http_port=_port("N2GKB_HTTP_PORT", 7474),
            heap=os.environ.get("N2GKB_NEO4J_HEAP", "1g"),
            pagecache=os.environ.get("N2GKB_NEO4J_PAGECACHE", "512m"),
        )

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"


def resolve(
    uri: str | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> ConnectionSettings:
    """Settings from explicit values (CLI options) falling back to NEO4J_* variables.

    Without a URI the managed local server is meant; its password is read when it is
    started (see `n2g_kb.kb.localdb.LocalNeo4j.ensure_running`).
    """
    uri = uri or os.environ.get("NEO4J_URI") or None
    user = user or os.environ.get("NEO4J_USER") or DEFAULT_USER
    password = password if password is not None else os.environ.get("NEO4J_PASSWORD")
    database = database or os.environ.get("NEO4J_DATABASE") or DEFAULT_DATABASE
    if uri is None:
        local = LocalServerSettings.from_env()
        return ConnectionSettings(uri=local.bolt_uri, user=DEFAULT_USER, password=None, database=database, managed=True)
    return ConnectionSettings(uri=uri, user=user, password=password, database=database, managed=False)
