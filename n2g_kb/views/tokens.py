"""How a token is shown to people, the same everywhere (tables, graphs, examples, the site).

Spaces are drawn as ``␣`` so a leading space is visible (``" Paris"`` -> ``␣Paris``),
control characters as escapes (``\\n``, ``\\t``, ``\\u200b``). Byte pieces arrive already
spelled in hex (``<0xE2><0x80>``, see `n2g_kb.lm.tokens`). Light on purpose: no
third-party imports, so the CLI can use it without paying for them.
"""

from __future__ import annotations

import unicodedata

SPACE = "␣"


def display_token(token: str) -> str:
    """Readable, unambiguous token text (see the module doc); ``''`` for the empty token."""
    if token == "":
        return "''"
    return "".join(_visible(c) for c in token)


def _visible(c: str) -> str:
    if c == " ":
        return SPACE
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    if c == "\r":
        return "\\r"
    if unicodedata.category(c)[0] in ("C", "Z"):
        return f"\\u{ord(c):04x}"
    return c

