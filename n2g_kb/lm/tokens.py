"""Token ids to the token strings the knowledge base stores, byte pieces included.

Decoding one id of a byte-level tokenizer on its own gives U+FFFD for a piece of a
multi-byte character, so every such piece would look (and be stored) alike. Here such a
piece keeps its bytes, written as hex: ``<0xE2><0x80>``; the valid part of a piece stays
text (``" caf<0xC3>"``). SentencePiece byte tokens are already spelled that way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_BYTE_TOKEN = re.compile(r"^(<0x[0-9A-Fa-f]{2}>)+$")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """The inverse of the byte-level BPE alphabet (printable bytes stand for themselves,
    the others are shifted to code points from 256 up, in byte order)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def hex_bytes(raw: bytes) -> str:
    """`raw` as UTF-8 text where it decodes, ``<0xNN>`` for each byte where it does not."""
    out: list[str] = []
    while raw:
        try:
            out.append(raw.decode("utf-8"))
            break
        except UnicodeDecodeError as e:
            out.append(raw[: e.start].decode("utf-8"))
            out.append("".join(f"<0x{b:02X}>" for b in raw[e.start : e.end]))
            raw = raw[e.end :]
    return "".join(out)


def token_strings(tokenizer, ids: Sequence[int]) -> list[str]:
    """Each id decoded on its own (``' Paris'``); byte pieces as hex (see the module doc)."""
    ids = [int(i) for i in ids]
    decoded = list(tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False))
    for k, text in enumerate(decoded):
        if "\ufffd" in text:
            decoded[k] = _raw_piece(tokenizer, ids[k], text)
    return decoded


def _raw_piece(tokenizer, token_id: int, text: str) -> str:
    try:
        piece = tokenizer.convert_ids_to_tokens(token_id)
    except Exception:  # noqa: BLE001 - a tokenizer without the method keeps its decoding
        return text
    if not isinstance(piece, str):
        return text
    if _BYTE_TOKEN.match(piece):
        return piece.upper().replace("<0X", "<0x")
    table = _byte_decoder()
    if piece and all(c in table for c in piece):
        return hex_bytes(bytes(table[c] for c in piece))
    return text
