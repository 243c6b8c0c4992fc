"""The user-facing query library (`cypher/query/`): names, titles, parameters, Browser lines.

Light on purpose (no pandas), so `n2gkb queries ...` answers at once. Each query's header
ends with one ``:param name => value`` line per parameter: Neo4j Browser evaluates the
right-hand side as Cypher, so ``:param limit => 50`` stays an integer (a ``:params {...}``
map goes through JavaScript, where every number becomes a float and ``LIMIT $limit``
fails). `browser_params` reads those lines; `parse_literal` reads their values (and the
values of ``n2gkb queries run --param``) in Python.
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from n2g_kb.errors import ConfigError
from n2g_kb.kb import cypher

QUERY_FOLDER = "query"
_PARAM_LINE = re.compile(r"^//\s*:param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=>\s*(.+?)\s*$")
_LITERAL_WORDS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\bnull\b|\btrue\b|\bfalse\b")


def query_names() -> list[str]:
    """The user-facing queries, e.g. 'query/fires_on'."""
    return [name for name in cypher.available() if name.startswith(f"{QUERY_FOLDER}/")]


def full_name(name: str) -> str:
    """'fires_on' or 'query/fires_on' -> 'query/fires_on'; `ConfigError` listing the names otherwise."""
    full = name if name.startswith(f"{QUERY_FOLDER}/") else f"{QUERY_FOLDER}/{name}"
    if full not in query_names():
        names = ", ".join(n.removeprefix(f"{QUERY_FOLDER}/") for n in query_names())
        raise ConfigError(f"No query named {name!r}; choose one of: {names}")
    return full


def query_title(name: str) -> str:
    """The first header line of a query, without the 'n2g-kb: ' prefix."""
    first = cypher.header(name).splitlines()[0] if cypher.header(name) else name
    return first.removeprefix("n2g-kb:").strip()


def query_parameters(name: str) -> list[str]:
    """The $parameters a query's body uses, in order of first use."""
    body = "\n".join(line for line in cypher.load(name).splitlines() if not line.lstrip().startswith("//"))
    return list(dict.fromkeys(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", body)))


def browser_params(name: str) -> list[tuple[str, str]]:
    """The header's ``:param name => value`` lines as (name, Cypher expression) pairs."""
    pairs = []
    for line in cypher.load(name).splitlines():
        if not line.startswith("//"):
            break
        match = _PARAM_LINE.match(line)
        if match:
            pairs.append((match.group(1), match.group(2)))
    return pairs


def parse_literal(text: str) -> Any:
    """A Cypher literal as Python: 'text', "text", null, true, false, 1, 0.5, ['a', 'b']."""

    def word(match: re.Match[str]) -> str:
        value = match.group(0)
        return {"null": "None", "true": "True", "false": "False"}.get(value, value)

    try:
        return ast.literal_eval(_LITERAL_WORDS.sub(word, text.strip()))
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"{text!r} is not a literal value (use e.g. 'paris', 50, 0.5, null, true, ['a', 'b'])") from e


def parse_param(assignment: str) -> tuple[str, Any]:
    """``key=value`` from the command line: the value as JSON or a Cypher literal, else as text."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ConfigError(f"--param {assignment!r}: write it as NAME=VALUE, e.g. --param limit=10")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        return key, parse_literal(raw)
    except ConfigError:
        return key, raw


def resolve_params(name: str, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters to run `name` with, and those taken from its header.

    A parameter not given takes the header's value when that is null, a number or a
    boolean (filters, limits, thresholds); a missing text or list (the token, the
    context) is a `ConfigError` naming the header's example.
    """
    full = full_name(name)
    wanted = query_parameters(full)
    unknown = sorted(set(given) - set(wanted))
    if unknown:
        raise ConfigError(
            f"{full.removeprefix('query/')} takes no parameter {', '.join(unknown)}; "
            f"its parameters: {', '.join(wanted) or 'none'}"
        )
    header = {key: parse_literal(expr) for key, expr in browser_params(full)}
    params: dict[str, Any] = {}
    defaulted: dict[str, Any] = {}
    for key in wanted:
        if key in given:
            params[key] = given[key]
        elif key in header and (header[key] is None or isinstance(header[key], (bool, int, float))):
            params[key] = defaulted[key] = header[key]
        else:
            example = f"{key}={json.dumps(header[key], ensure_ascii=False)}" if key in header else f"{key}=VALUE"
            raise ConfigError(f"{full.removeprefix('query/')} needs --param {key}; e.g. --param '{example}'")
    return params, defaulted


def export_browser_favorites(path: str | Path, folder: str = "n2g-kb") -> Path:
    """Writes the query library as a .zip that Neo4j Browser imports as saved scripts.

    Each query becomes `<folder>/<name>.cypher`, unchanged; Browser names a script after
    its first comment line and files it in a folder named after the zip folder.
    """
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ConfigError(f"{path} should end in .zip (Neo4j Browser imports .zip archives of .cypher files)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in query_names():
            stem = name.removeprefix(f"{QUERY_FOLDER}/")
            info = zipfile.ZipInfo(f"{folder}/{stem}.cypher", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, cypher.load(name))
    return path
