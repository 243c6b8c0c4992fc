"""Tiny models and a synthetic corpus for tests and benches; nothing is downloaded.

`build_tiny_gpt2` writes a randomly initialised GPT-2 with a byte-level BPE tokenizer
trained on `synthetic_corpus`, in the same `save_pretrained` layout as a real checkpoint,
so `n2g_kb.model.load_model(path)` loads it through the real TransformerBridge path.
`train_tiny_gpt2` also trains it briefly on the corpus so its neurons have structure
(used by the quality bench). `build_tiny_masked_lm` writes a tiny DistilBERT masked LM
with a WordPiece tokenizer, a stand-in for `distilbert-base-uncased`.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

BOS = "<|endoftext|>"

_NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Iris", "Jack"]
_SURNAMES = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Clark", "Lewis", "Walker"]
_CITIES = ["Paris", "London", "Tokyo", "Berlin", "Rome", "Madrid", "Vienna", "Dublin"]
_COUNTRIES = ["France", "England", "Japan", "Germany", "Italy", "Spain", "Austria", "Ireland"]
_ANIMALS = ["cat", "dog", "bird", "horse", "fox", "rabbit", "mouse", "sheep"]
_OBJECTS = ["mat", "chair", "table", "roof", "bed", "wall", "box", "car"]
_FRUITS = ["apples", "pears", "bananas", "grapes", "lemons", "plums"]
_ADJECTIVES = ["happy", "tired", "quick", "quiet", "angry", "brave", "small", "loud"]
_TOPICS = ["history", "music", "science", "cooking", "travel", "football", "painting"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_VERBS = ["sat", "slept", "jumped", "waited", "stood", "played"]

_TEMPLATES = [
    "{name} went to {city} on {day}.",
    "The {animal} {verb} on the {object}.",
    "{city} is the capital of {country}.",
    "Mr. {surname} paid ${number} for the {object}.",
    "In {year}, {name} wrote a book about {topic}.",
    "The price of {fruit} rose to {number} dollars!",
    "She said that the {animal} was {adjective}.",
    "{name} and {name2} ate {fruit} in {city}.",
    "Dr. {surname} lives in {city}, {country}.",
    "Every {day}, the {adjective} {animal} {verb} near the {object}.",
    "\"I like {topic},\" said {name}.",
    "The {object} in {city} cost {number} euros.",
]


def synthetic_corpus(n_sentences: int = 2000, seed: int = 0) -> list[str]:
    """Deterministic paragraphs of templated English: names, places, prices, animals.

    Each string is a paragraph of a few sentences; the same seed gives the same corpus.
    """
    rng = random.Random(seed)
    paragraphs: list[str] = []
    sentences: list[str] = []
    for _ in range(n_sentences):
        template = rng.choice(_TEMPLATES)
        i = rng.randrange(len(_CITIES))
        name, name2 = rng.sample(_NAMES, 2)
        sentence = template.format(
            name=name,
            name2=name2,
            surname=rng.choice(_SURNAMES),
            city=_CITIES[i],
            country=_COUNTRIES[i] if "capital" in template or "lives" in template else rng.choice(_COUNTRIES),
            animal=rng.choice(_ANIMALS),
            object=rng.choice(_OBJECTS),
            fruit=rng.choice(_FRUITS),
            adjective=rng.choice(_ADJECTIVES),
            topic=rng.choice(_TOPICS),
            day=rng.choice(_DAYS),
            verb=rng.choice(_VERBS),
            number=rng.randrange(2, 999),
            year=rng.randrange(1900, 2024),
        )
        sentences.append(sentence)
        if len(sentences) >= rng.randrange(3, 7):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    return paragraphs


def _train_bpe_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=2, special_tokens=[BOS], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=BOS, eos_token=BOS, unk_token=BOS)


def build_tiny_gpt2(
    directory: str | Path,
    *,
    n_layers: int = 2,
    d_model: int = 64,
    d_mlp: int = 256,
    n_heads: int = 4,
    n_ctx: int = 128,
    vocab_size: int = 1000,
    seed: int = 0,
    corpus: list[str] | None = None,
) -> Path:
    """Write a random tiny GPT-2 (weights + BPE tokenizer) to `directory` and return it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_bpe_tokenizer(corpus or synthetic_corpus(seed=seed), vocab_size)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_ctx,
        n_embd=d_model,
        n_layer=n_layers,
        n_head=n_heads,
        n_inner=d_mlp,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    _save(directory, model, tokenizer)
    return directory


def train_tiny_gpt2(
    directory: str | Path,
    *,
    steps: int = 400,
    batch_size: int = 16,
    seq_len: int = 64,
    lr: float = 3e-3,
    n_layers: int = 3,
    d_model: int = 64,
    d_mlp: int = 256,
    seed: int = 0,
    n_sentences: int = 6000,
) -> Path:
    """Build a tiny GPT-2 and train it on the synthetic corpus (BOS-prefixed windows).

    About a minute on two CPU cores with the defaults. Returns `directory`.
    """
    from transformers import AutoTokenizer, GPT2LMHeadModel

    corpus = synthetic_corpus(n_sentences=n_sentences, seed=seed)
    directory = build_tiny_gpt2(
        directory, n_layers=n_layers, d_model=d_model, d_mlp=d_mlp, n_ctx=max(128, seq_len + 1), seed=seed, corpus=corpus
    )
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = GPT2LMHeadModel.from_pretrained(directory)
    stream = corpus_token_stream(tokenizer, corpus)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    bos = torch.full((batch_size, 1), tokenizer.bos_token_id, dtype=torch.long)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(stream) - seq_len, (batch_size,), generator=generator)
        windows = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
        batch = torch.cat([bos, windows], dim=1)
        loss = model(input_ids=batch, labels=batch).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval()
    _save(directory, model)
    return directory


def _save(directory: Path, model, tokenizer=None) -> None:
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(directory)
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def corpus_token_stream(tokenizer, corpus: list[str]) -> torch.Tensor:
    """The corpus as one stream of token ids, paragraphs separated by newlines."""
    ids = tokenizer("\n".join(corpus), add_special_tokens=False)["input_ids"]
    return torch.tensor(ids, dtype=torch.long)


def build_tiny_masked_lm(
    directory: str | Path,
    *,
    vocab_size: int = 400,
    dim: int = 32,
    n_layers: int = 2,
    train_steps: int = 0,
    seed: int = 0,
) -> Path:
    """Write a tiny DistilBERT masked LM with an uncased WordPiece tokenizer to `directory`.

    With `train_steps` > 0 it is trained briefly on the synthetic corpus (masked-LM
    objective), so its substitutes resemble the masked word's kind.
    """
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.processors import BertProcessing
    from transformers import DistilBertConfig, DistilBertForMaskedLM, PreTrainedTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = synthetic_corpus(seed=seed)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1, show_progress=False)
    vocab = wordpiece.get_vocab()
    wordpiece._tokenizer.post_processor = BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=dim,
        n_layers=n_layers,
        n_heads=2,
        hidden_dim=dim * 4,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DistilBertForMaskedLM(config)
        if train_steps > 0:
            _train_masked_lm(model, tokenizer, corpus, train_steps)
    model.eval()
    _save(directory, model, tokenizer)
    return directory


def _train_masked_lm(model, tokenizer, corpus: list[str], steps: int, batch_size: int = 32) -> None:
    sentences = [s.strip() + "." for p in corpus for s in p.split(".") if s.strip()]
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    model.train()
    for _ in range(steps):
        batch = tokenizer(rng.sample(sentences, batch_size), padding=True, return_tensors="pt")
        labels = batch["input_ids"].clone()
        special = (labels == tokenizer.cls_token_id) | (labels == tokenizer.sep_token_id) | (labels == tokenizer.pad_token_id)
        chosen = (torch.rand(labels.shape) < 0.15) & ~special
        labels[~chosen] = -100
        inputs = batch["input_ids"].clone()
        inputs[chosen] = tokenizer.mask_token_id
        loss = model(input_ids=inputs, attention_mask=batch["attention_mask"], labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


__all__ = [
    "BOS",
    "build_tiny_gpt2",
    "build_tiny_masked_lm",
    "corpus_token_stream",
    "synthetic_corpus",
    "train_tiny_gpt2",
]
