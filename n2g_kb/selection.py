"""Layer and neuron selections such as "0-11", "3" or "0-3,7,9-10".

Parsing is two steps, so the CLI can reject a malformed selection before it loads a
model: `parse_spans` checks the syntax and returns the (start, end) ranges without
expanding them; `parse_layers` / `parse_neurons` check those ranges against the model
(n_layers, d_mlp) BEFORE expanding them, so "0-999999999" is one clear error, not gigabytes
of integers. `parse_ranges` expands a selection with no model to check against, refusing
more than `MAX_VALUES` numbers. Every problem is a `SelectionError` whose message names
the option, the text given and a working example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from n2g_kb.errors import SelectionError

_ITEM = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")
MAX_VALUES = 1 << 20
"""The most numbers a selection may expand to without a model to bound it (1,048,576)."""


def _example(option: str) -> str:
    return "0-11 or 0-3,7" if option == "--layers" else "0-99,512"


def parse_spans(text: str, option: str = "--layers") -> tuple[tuple[int, int], ...]:
    """The (start, end) ranges of a selection like "0-3,7,9-10", inclusive, unexpanded."""
    example = _example(option)
    if text is None or not str(text).strip():
        raise SelectionError(f"{option} is empty; use e.g. {example}")
    spans: list[tuple[int, int]] = []
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
        spans.append((start, end))
    return tuple(spans)


def _expand(spans: Iterable[tuple[int, int]]) -> tuple[int, ...]:
    values: set[int] = set()
    for start, end in spans:
        values.update(range(start, end + 1))
    return tuple(sorted(values))


def parse_ranges(text: str, option: str = "--layers") -> tuple[int, ...]:
    """The sorted distinct numbers of a selection like "0-3,7,9-10" (no model bound; at
    most `MAX_VALUES` numbers, checked before anything is expanded)."""
    spans = parse_spans(text, option)
    size = sum(end - start + 1 for start, end in spans)
    if size > MAX_VALUES:
        raise SelectionError(
            f"{option} {text}: selects {size:,} numbers, more than any model has; use e.g. {_example(option)}"
        )
    return _expand(spans)


def _out_of_range(v: int, upper: int, option: str, model: str) -> SelectionError:
    what = "layer" if option == "--layers" else "neuron"
    plural = "layers" if option == "--layers" else "neurons per layer"
    return SelectionError(
        f"{option}: {what} {v} is out of range; {model} has {upper} {plural} "
        f"(use {format_ranges(range(upper)) if upper else 'none'})"
    )


def check_bounds(values: Iterable[int], upper: int, option: str, model: str) -> tuple[int, ...]:
    """`values` when every one is in 0..upper-1, else a SelectionError naming the valid range."""
    values = tuple(values)
    for v in values:
        if not 0 <= v < upper:
            raise _out_of_range(v, upper, option, model)
    return values


def parse_bounded(text: str, upper: int, option: str, model: str = "the model") -> tuple[int, ...]:
    """The numbers of `text`, every range checked against 0..upper-1 before it is expanded."""
    spans = parse_spans(text, option)
    outside = [max(start, upper) for start, end in spans if end >= upper]
    if outside:
        raise _out_of_range(min(outside), upper, option, model)
    return _expand(spans)


def parse_layers(text: str, n_layers: int, model: str = "the model") -> tuple[int, ...]:
    """Layers of `text` checked against a model with `n_layers` layers."""
    return parse_bounded(text, n_layers, "--layers", model)


def parse_neurons(text: str | None, d_mlp: int, model: str = "the model") -> tuple[int, ...]:
    """Neurons of `text` (None or "all" = every neuron) checked against `d_mlp`."""
    if text is None or str(text).strip().lower() == "all":
        return tuple(range(d_mlp))
    return parse_bounded(text, d_mlp, "--neurons", model)


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
