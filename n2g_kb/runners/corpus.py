"""Where mining gets its text: a local .txt / .jsonl file or a Hugging Face dataset.

`resolve_corpus` turns the `--corpus` value (or nothing: the default dataset for the
model) into a `CorpusSource`; `iter_documents` streams its documents; `token_windows`
cuts the token stream into the fixed windows mining scores. Every problem (missing,
unreadable, malformed, unreachable) is a `CorpusError` that says what to pass instead.

Local files:
  * `.txt`: documents are separated by blank lines (a document keeps its line breaks);
  * `.jsonl`: one JSON object per line with a string field `text`.
Anything else is taken as a Hugging Face dataset name, loaded with
`datasets.load_dataset(name, split=..., streaming=True)`; its rows need a `text` field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from n2g_kb.errors import CorpusError

DEFAULT_DATASET = "NeelNanda/pile-10k"
"""Default corpus: the first 10k documents of the Pile (what SoLU / Pythia models saw)."""

_DEFAULTS_BY_PREFIX = (
    ("gpt2", "stas/openwebtext-10k"),  # GPT-2 was trained on WebText; OpenWebText is its open copy
    ("distilgpt2", "stas/openwebtext-10k"),
    ("openai-community/gpt2", "stas/openwebtext-10k"),
)
_TEXT_SUFFIXES = (".txt", ".text")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_TOKENIZE_BATCH = 64

Kind = Literal["txt", "jsonl", "hf"]


@dataclass(frozen=True)
class CorpusSource:
    """A resolved corpus: `kind` 'txt' | 'jsonl' (a local `path`) or 'hf' (a dataset `name`)."""

    kind: Kind
    name: str
    path: Path | None = None
    split: str = "train"
    text_field: str = "text"

    def __post_init__(self) -> None:
        if self.kind in ("txt", "jsonl") and self.path is None:
            raise CorpusError(f"corpus {self.name!r}: a local corpus needs a path")
        if not self.text_field:
            raise CorpusError("the corpus text field is empty; use e.g. 'text'")

    def describe(self) -> str:
        if self.kind == "hf":
            return f"Hugging Face dataset {self.name} (split {self.split}, streamed)"
        return f"{self.kind} file {self.path}"

    def identity(self) -> dict:
        """What makes this corpus this corpus, for run keys: name, and size/mtime of a file."""
        ident: dict = {"kind": self.kind, "name": self.name, "split": self.split, "text_field": self.text_field}
        if self.path is not None:
            stat = self.path.stat()
            ident.update(path=str(self.path.resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        return ident

    def estimated_tokens(self) -> int | None:
        """A rough token count for progress bars (local files only; ~4 bytes per token)."""
        if self.path is None:
            return None
        try:
            return max(1, self.path.stat().st_size // 4)
        except OSError:
            return None


def default_dataset(model_name: str) -> str:
    """The Hugging Face dataset mining uses for `model_name` when no --corpus is given."""
    lowered = model_name.lower()
    for prefix, dataset in _DEFAULTS_BY_PREFIX:
        if lowered == prefix or lowered.startswith(prefix + "-"):
            return dataset
    return DEFAULT_DATASET


def resolve_corpus(spec: str | None, model_name: str, split: str = "train", text_field: str = "text") -> CorpusSource:
    """The corpus `spec` names: an existing local file, else a Hugging Face dataset name."""
    if spec is None or not spec.strip():
        return CorpusSource("hf", default_dataset(model_name), split=split, text_field=text_field)
    spec = spec.strip()
    path = Path(spec).expanduser()
    looks_local = path.suffix.lower() in _TEXT_SUFFIXES + _JSONL_SUFFIXES or spec.startswith((".", "/", "~"))
    if path.exists():
        if path.is_dir():
            raise CorpusError(f"--corpus {spec} is a directory; pass a .txt or .jsonl file, or a Hugging Face dataset name")
        kind: Kind = "jsonl" if path.suffix.lower() in _JSONL_SUFFIXES else "txt"
        return CorpusSource(kind, path.name, path=path, text_field=text_field)
    if looks_local:
        raise CorpusError(f"--corpus {spec}: no such file; pass an existing .txt or .jsonl file")
    return CorpusSource("hf", spec, split=split, text_field=text_field)


def iter_documents(source: CorpusSource) -> Iterator[str]:
    """The non-empty documents of `source`, streamed."""
    if source.kind == "txt":
        return _txt_documents(source)
    if source.kind == "jsonl":
        return _jsonl_documents(source)
    return _hf_documents(source)


def _open(source: CorpusSource):
    assert source.path is not None
    try:
        return source.path.open("r", encoding="utf-8")
    except OSError as e:
        raise CorpusError(f"cannot read corpus {source.path}: {e.strerror or e}; check the path and its permissions") from e


def _txt_documents(source: CorpusSource) -> Iterator[str]:
    lines: list[str] = []
    with _open(source) as handle:
        try:
            for line in handle:
                if line.strip():
                    lines.append(line)
                elif lines:
                    yield "".join(lines).strip("\n")
                    lines = []
        except UnicodeDecodeError as e:
            raise CorpusError(f"corpus {source.path} is not UTF-8 text ({e.reason} at byte {e.start}); convert it to UTF-8") from e
    if lines:
        yield "".join(lines).strip("\n")


def _jsonl_documents(source: CorpusSource) -> Iterator[str]:
    field = source.text_field
    with _open(source) as handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorpusError(
                        f"line {number} of {source.path} is not JSON ({e.msg}); each line must be an object like "
                        f'{{"{field}": "..."}}'
                    ) from None
                if not isinstance(row, dict) or not isinstance(row.get(field), str):
                    raise CorpusError(
                        f"line {number} of {source.path} has no string field {field!r}; each line must be an object "
                        f'like {{"{field}": "..."}}'
                    )
                if row[field].strip():
                    yield row[field]
        except UnicodeDecodeError as e:
            raise CorpusError(f"corpus {source.path} is not UTF-8 text (after line {number}); convert it to UTF-8") from e


def _hf_documents(source: CorpusSource) -> Iterator[str]:
    hint = "pass --corpus with a local .txt or .jsonl file, or check the dataset name and that the hub is reachable"
    try:
        import datasets

        dataset = datasets.load_dataset(source.name, split=source.split, streaming=True)
        rows = iter(dataset)
        first = next(rows, None)
    except CorpusError:
        raise
    except Exception as e:  # any loader failure (offline, unknown name, bad split) is one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorpusError(f"cannot load Hugging Face dataset {source.name!r} ({reason[:160]}); {hint}") from e
    if first is None:
        return
    if not isinstance(first, dict) or not isinstance(first.get(source.text_field), str):
        fields = ", ".join(sorted(first)) if isinstance(first, dict) else type(first).__name__
        raise CorpusError(
            f"Hugging Face dataset {source.name!r} has no text field {source.text_field!r} (fields: {fields}); "
            "pass a dataset with a 'text' column or a local file"
        )
    try:
        for row in _chain_first(first, rows):
            text = row.get(source.text_field)
            if isinstance(text, str) and text.strip():
                yield text
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorpusError(f"reading Hugging Face dataset {source.name!r} failed ({reason[:160]}); {hint}") from e


def _chain_first(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def token_windows(
    documents: Iterable[str],
    tokenize: Callable[[Sequence[str]], list[list[int]]],
    separator: int | None,
    context: int,
    max_tokens: int | None = None,
    min_length: int = 2,
) -> Iterator[list[int]]:
    """The documents' tokens as one stream (documents joined by `separator`), cut into
    windows of `context` tokens; at most `max_tokens` tokens in all. A last window shorter
    than `context` is kept when it has at least `min_length` tokens."""
    if context < 1:
        raise CorpusError(f"context length {context} is too small; use at least 1 token")
    buffer: list[int] = []
    taken = 0
    budget = max_tokens if max_tokens is not None else float("inf")
    first = True

    def add(texts: Sequence[str]) -> None:
        nonlocal first
        for ids in tokenize(texts) if texts else []:
            if not first and separator is not None:
                buffer.append(separator)
            buffer.extend(ids)
            first = False

    def drain(final: bool) -> Iterator[list[int]]:
        nonlocal buffer, taken
        while taken < budget:
            want = int(min(context, budget - taken))
            if len(buffer) < want:
                if final and len(buffer) >= min_length:
                    taken += len(buffer)
                    yield buffer
                    buffer = []
                return
            window, buffer = buffer[:want], buffer[want:]
            taken += want
            if len(window) >= min_length:
                yield window

    batch: list[str] = []
    for doc in documents:
        batch.append(doc)
        if len(batch) < _TOKENIZE_BATCH:
            continue
        add(batch)
        batch = []
        yield from drain(final=False)
        if budget - taken < min_length:
            return
    add(batch)
    yield from drain(final=True)
