"""Layer and neuron selections such as "0-11", "3" or "0-3,7,9-10".

Parsing is two steps, so the CLI can reject a malformed selection before it loads a
model: `parse_ranges` checks the syntax and returns the sorted distinct numbers;
`check_bounds` then checks them against the model (n_layers, d_mlp). Every problem is a
`SelectionError` whose message names the option, the text given and a working example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from n2g_kb.errors import SelectionError

_ITEM = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def parse_ranges(text: str, option: str = "--layers") -> tuple[int, ...]:
    """The sorted distinct numbers of a selection like "0-3,7,9-10" (bounds not checked)."""
    example = "0-11 or 0-3,7" if option == "--layers" else "0-99,512"
    if text is None or not str(text).strip():
        raise SelectionError(f"{option} is empty; use e.g. {example}")
    values: set[int] = set()
    for raw in str(text).split(","):
        item = raw.strip()
        match = _ITEM.match(item)
        if not match:
            what = "layer" if option == "--layers" else "neuron"
            shown = item if item else "(an empty item)"
            raise SelectionError(f"{option} {text}: {shown!r} is not a {what} number or range; use e.g. {example}")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            raise SelectionError(
                f"{option} {text}: range end {end} is before start {start}; use e.g. {end}-{start}"
            )
        values.update(range(start, end + 1))
    return tuple(sorted(values))


def check_bounds(values: Iterable[int], upper: int, option: str, model: str) -> tuple[int, ...]:
    """`values` when every one is in 0..upper-1, else a SelectionError naming the valid range."""
    values = tuple(values)
    what = "layer" if option == "--layers" else "neuron"
    plural = "layers" if option == "--layers" else "neurons per layer"
    for v in values:
        if not 0 <= v < upper:
            raise SelectionError(
                f"{option}: {what} {v} is out of range; {model} has {upper} {plural} "
                f"(use {format_ranges(range(upper)) if upper else 'none'})"
            )
    return values


def parse_layers(text: str, n_layers: int, model: str = "the model") -> tuple[int, ...]:
    """Layers of `text` checked against a model with `n_layers` layers."""
    return check_bounds(parse_ranges(text, "--layers"), n_layers, "--layers", model)


def parse_neurons(text: str | None, d_mlp: int, model: str = "the model") -> tuple[int, ...]:
    """Neurons of `text` (None or "all" = every neuron) checked against `d_mlp`."""
    if text is None or str(text).strip().lower() == "all":
        return tuple(range(d_mlp))
    return check_bounds(parse_ranges(text, "--neurons"), d_mlp, "--neurons", model)


def format_ranges(values: Iterable[int]) -> str:
    """The compact text of a set of numbers: [0, 1, 2, 3, 7] -> "0-3,7"."""
    ordered = sorted(set(values))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
