"""Loads the project's Cypher by name from the `cypher/` folder.

Every query n2g-kb runs is a `.cypher` file. In an installed wheel the folder ships as
`n2g_kb/cypher`; in a source checkout (editable install) it is the top-level `cypher/`.
Values always travel as `$parameters`; the text of a file is never formatted.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

from n2g_kb.errors import N2GKBError

_SOURCE_DIR = Path(__file__).resolve().parents[2] / "cypher"


def cypher_dir() -> Path:
    packaged = resources.files("n2g_kb").joinpath("cypher")
    if packaged.is_dir():
        return Path(str(packaged))
    if _SOURCE_DIR.is_dir():
        return _SOURCE_DIR
    raise N2GKBError("The cypher/ query folder is missing from the installation; reinstall n2g-kb")


@cache
def load(name: str) -> str:
    """The text of `cypher/<name>.cypher` (name may contain a sub-folder, e.g. 'write/neuron')."""
    path = cypher_dir() / f"{name}.cypher"
    if not path.is_file():
        raise N2GKBError(f"No Cypher query named {name!r} in {cypher_dir()}")
    return path.read_text(encoding="utf-8")


def statements(name: str) -> list[str]:
    """The statements of a multi-statement file (split on ';' at line ends), comments removed."""
    text = "\n".join(line for line in load(name).splitlines() if not line.strip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def available() -> list[str]:
    root = cypher_dir()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.cypher"))


def header(name: str) -> str:
    """The leading `//` comment block of a query file: what it answers and its parameters."""
    lines = []
    for line in load(name).splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines)
