"""Corpora: local .txt / .jsonl files, Hugging Face names, and the token windows."""

from __future__ import annotations

import pytest

from n2g_kb.runners.corpus import (
    DEFAULT_DATASET,
    CorpusSource,
    default_dataset,
    iter_documents,
    resolve_corpus,
    token_windows,
)
from n2g_kb.errors import CorpusError


def _chars(texts):
    """A toy tokenizer: one token per character (its code point)."""
    return [[ord(c) for c in t] for t in texts]


def test_a_txt_file_splits_into_documents_on_blank_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("First doc,\nsecond line.\n\n\nSecond doc.\n  \nThird.", encoding="utf-8")
    source = resolve_corpus(str(path), "gpt2")
    assert source.kind == "txt"
    assert list(iter_documents(source)) == ["First doc,\nsecond line.", "Second doc.", "Third."]


def test_a_jsonl_file_yields_its_text_fields(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n\n{"text": "two", "meta": 1}\n{"text": "  "}\n', encoding="utf-8")
    source = resolve_corpus(str(path), "gpt2")
    assert source.kind == "jsonl"
    assert list(iter_documents(source)) == ["one", "two"]


def test_a_jsonl_line_without_text_names_its_line_number(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\n{"body": "two"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2 of .*c\.jsonl has no string field 'text'"):
        list(iter_documents(resolve_corpus(str(path), "gpt2")))


def test_a_jsonl_line_that_is_not_json_is_a_corpus_error(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "one"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2 of .* is not JSON"):
        list(iter_documents(resolve_corpus(str(path), "gpt2")))


def test_a_missing_local_file_is_a_corpus_error_not_a_dataset_lookup(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        resolve_corpus(str(tmp_path / "nope.txt"), "gpt2")


def test_a_directory_is_not_a_corpus(tmp_path):
    with pytest.raises(CorpusError, match="is a directory"):
        resolve_corpus(str(tmp_path), "gpt2")


def test_a_file_that_is_not_utf8_is_a_corpus_error(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"fine\n\n\xff\xfe\xfa broken")
    with pytest.raises(CorpusError, match="is not UTF-8 text"):
        list(iter_documents(resolve_corpus(str(path), "gpt2")))


def test_an_unreachable_dataset_tells_the_user_to_pass_a_local_file(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    source = resolve_corpus("NeelNanda/pile-10k", "gpt2")
    assert source == CorpusSource("hf", "NeelNanda/pile-10k")
    with pytest.raises(CorpusError, match="pass --corpus with a local .txt or .jsonl file"):
        list(iter_documents(source))


def test_the_default_dataset_suits_the_model():
    assert default_dataset("gpt2") == "stas/openwebtext-10k"
    assert default_dataset("gpt2-medium") == "stas/openwebtext-10k"
    assert default_dataset("NeelNanda/SoLU_6L768W_C4_Code") == DEFAULT_DATASET
    assert resolve_corpus(None, "EleutherAI/pythia-70m").name == DEFAULT_DATASET


def test_a_file_identity_changes_when_the_file_changes(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one", encoding="utf-8")
    before = resolve_corpus(str(path), "gpt2").identity()
    path.write_text("one two", encoding="utf-8")
    after = resolve_corpus(str(path), "gpt2").identity()
    assert before["path"] == after["path"] and before != after


def test_windows_cut_the_document_stream_with_a_separator_between_documents():
    windows = list(token_windows(["abc", "de"], _chars, separator=0, context=2))
    assert windows == [[97, 98], [99, 0], [100, 101]]


def test_a_short_last_window_is_kept_and_a_one_token_tail_is_dropped():
    assert list(token_windows(["abcde"], _chars, separator=None, context=3)) == [[97, 98, 99], [100, 101]]
    assert list(token_windows(["abcd"], _chars, separator=None, context=3)) == [[97, 98, 99]]


def test_max_tokens_bounds_the_windows():
    docs = ["abcdefghij"] * 200
    windows = list(token_windows(docs, _chars, separator=0, context=4, max_tokens=10))
    assert [len(w) for w in windows] == [4, 4, 2]
    assert sum(len(w) for w in token_windows(docs, _chars, separator=0, context=4, max_tokens=1000)) == 1000


def test_an_empty_corpus_gives_no_windows(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n\n  \n", encoding="utf-8")
    assert list(token_windows(iter_documents(resolve_corpus(str(path), "m")), _chars, 0, 8)) == []
