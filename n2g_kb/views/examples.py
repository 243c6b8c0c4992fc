"""A neuron's dataset examples as people read them: text with activations as colour.

Each stored example is a window of the corpus (mined at ingest): its tokens and the
neuron's raw activation on each. The *key token* is the one the example was mined for,
the position of its highest activation. A window can span a document boundary (the
corpus is a stream of documents joined by the end-of-text token); only the key token's
document is shown, and a cut is marked with ``DOCUMENT_CUT``.

`example_records` gives plain rows (for `n2g_kb.kb.query.examples`), `example_text` a
`rich.text.Text` for the terminal, `example_html` an HTML fragment (site, notebooks).
Colour: white for zero (or negative), full red at the neuron's max activation.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from n2g_kb.n2g.results import Example
from n2g_kb.views.tokens import display_token

DOCUMENT_CUT = "¶"
_SEPARATOR = re.compile(r"^(<\|[A-Za-z_]+\|>|</?s>|\[(SEP|CLS)\]|<(eos|bos|pad)>)$")
EXAMPLE_COLUMNS = [
    "split", "idx", "key_position", "key_token", "key_activation", "start", "end", "tokens", "activations", "text",
]


def is_boundary(token: str) -> bool:
    """Whether `token` separates documents (end-of-text, BOS and similar special tokens)."""
    return bool(_SEPARATOR.match(token))


def key_position(example: Example) -> int:
    """The position of the example's highest activation (the first, on ties)."""
    values = list(example.activations)
    return max(range(len(values)), key=lambda i: (values[i], -i)) if values else 0


def document_span(tokens: Sequence[str], key: int) -> tuple[int, int]:
    """[start, end) of the key token's document inside the window (separators excluded)."""
    start = key
    while start > 0 and not is_boundary(tokens[start - 1]):
        start -= 1
    end = key + 1
    while end < len(tokens) and not is_boundary(tokens[end]):
        end += 1
    return start, end


def example_records(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """One row per example, train first then test, with its key token and document span."""
    rows = []
    counters: dict[str, int] = {}
    for ex in sorted(examples, key=lambda e: 0 if e.split == "train" else 1):
        idx = counters.get(ex.split, 0)
        counters[ex.split] = idx + 1
        key = key_position(ex)
        start, end = document_span(ex.tokens, key)
        rows.append(
            {
                "split": ex.split,
                "idx": idx,
                "key_position": key,
                "key_token": ex.tokens[key] if ex.tokens else "",
                "key_activation": float(ex.activations[key]) if ex.activations else 0.0,
                "start": start,
                "end": end,
                "tokens": list(ex.tokens),
                "activations": [float(a) for a in ex.activations],
                "text": "".join(ex.tokens[start:end]),
            }
        )
    return rows


def _strength(value: float, scale: float) -> float:
    return 0.0 if scale <= 0 else max(0.0, min(1.0, value / scale))


def _red(strength: float) -> str:
    level = round(255 * (1.0 - strength))
    return f"#ff{level:02x}{level:02x}"


def example_text(row: dict[str, Any], scale: float):
    """One example row as a rich `Text`: tokens on a white-to-red background, the key token
    bold, underlined and bracketed ``⟦…⟧``; spaces and newlines shown as ␣ and \\n only
    where the text would otherwise hide them (inside the key token)."""
    from rich.text import Text

    text = Text()
    if row["start"] > 0:
        text.append(f"{DOCUMENT_CUT} ", style="dim")
    for i in range(row["start"], row["end"]):
        token, value = row["tokens"][i], row["activations"][i]
        strength = _strength(value, scale)
        style = f"black on {_red(strength)}" if strength > 0.05 else ""
        if i == row["key_position"]:
            text.append("⟦" + display_token(token) + "⟧", style=f"bold underline {style}".strip())
        else:
            text.append(token.replace("\n", "\\n"), style=style or None)
    if row["end"] < len(row["tokens"]):
        text.append(f" {DOCUMENT_CUT}", style="dim")
    return text


def example_html(row: dict[str, Any], scale: float) -> str:
    """One example row as an HTML fragment: each token a <span> coloured by activation
    (its value in the tooltip), the key token with class ``key``."""
    parts = ['<div class="ex">']
    if row["start"] > 0:
        parts.append(f'<span class="cut" title="another document before">{DOCUMENT_CUT}</span>')
    for i in range(row["start"], row["end"]):
        token, value = row["tokens"][i], row["activations"][i]
        shown = html.escape(token.replace("\n", "↵"))
        classes = "tok key" if i == row["key_position"] else "tok"
        colour = _red(_strength(value, scale))
        parts.append(f'<span class="{classes}" style="background:{colour}" title="{value:.3f}">{shown}</span>')
    if row["end"] < len(row["tokens"]):
        parts.append(f'<span class="cut" title="another document after">{DOCUMENT_CUT}</span>')
    parts.append("</div>")
    return "".join(parts)


EXAMPLE_CSS = (
    ".ex{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;line-height:1.7;margin:2px 0;}"
    ".ex .tok{border-radius:2px}.ex .key{outline:2px solid #000;font-weight:bold}.ex .cut{color:#999}"
)
