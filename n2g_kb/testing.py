"""Tiny models and a synthetic corpus for tests and benches; nothing is downloaded.

`build_tiny_gpt2` writes a randomly initialised GPT-2 with a byte-level BPE tokenizer
trained on `synthetic_corpus`, in the same `save_pretrained` layout as a real checkpoint,
so `n2g_kb.lm.model.load_model(path)` loads it through the real TransformerBridge path.
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


# Tiny dimensions per `transformers` model type; vocab and special tokens come from the tokenizer.
_TINY_CONFIGS: dict[str, dict] = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_inner=64, n_positions=64),
    "gpt_neox": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=64),
    "gptj": dict(n_embd=32, n_layer=2, n_head=4, n_inner=64, n_positions=64, rotary_dim=4),
    "llama": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64),
    "mistral": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64),
    "qwen2": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64),
    "gemma": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=8, intermediate_size=64, max_position_embeddings=64),
    "gemma2": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8, intermediate_size=64, max_position_embeddings=64),
    "olmo": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=64),
}
TINY_ARCHITECTURES = tuple(_TINY_CONFIGS)


def tiny_tokenizer(vocab_size: int = 300, n_sentences: int = 400, seed: int = 0):
    """A small byte-level BPE tokenizer trained on the synthetic corpus (BOS = EOS =
    `<|endoftext|>`), to share between tiny models of several architectures."""
    return _train_bpe_tokenizer(synthetic_corpus(n_sentences=n_sentences, seed=seed), vocab_size)


def build_tiny_causal_lm(directory: str | Path, model_type: str, tokenizer=None, *, seed: int = 0, **overrides) -> Path:
    """Write a random tiny causal LM of `model_type` (a `transformers` model type, one of
    `TINY_ARCHITECTURES`) with `tokenizer` (default: `tiny_tokenizer()`) to `directory`,
    in the `save_pretrained` layout, so it loads through the real path. `overrides` change
    config fields (e.g. num_hidden_layers)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if model_type not in _TINY_CONFIGS:
        raise ValueError(f"no tiny config for {model_type!r}; use one of {', '.join(_TINY_CONFIGS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else tiny_tokenizer()
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **{**_TINY_CONFIGS[model_type], **overrides},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
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

    A minute or two on a CPU core with the defaults. Returns `directory`.
    """
    from transformers import AutoTokenizer, GPT2LMHeadModel

    corpus = synthetic_corpus(n_sentences=n_sentences, seed=seed)
    directory = build_tiny_gpt2(
        directory,
        n_layers=n_layers,
        d_model=d_model,
        d_mlp=d_mlp,
        n_ctx=max(128, seq_len + 1),
        seed=seed,
        corpus=corpus,
    )
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = GPT2LMHeadModel.from_pretrained(directory)
    stream = corpus_token_stream(tokenizer, corpus)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    bos = torch.full((batch_size, 1), tokenizer.bos_token_id, dtype=torch.long)
    model.train()
    with torch.enable_grad():
        _train_causal_lm(model, optimiser, schedule, stream, bos, steps, batch_size, seq_len, generator)
    model.eval()
    _save(directory, model)
    return directory


def _train_causal_lm(model, optimiser, schedule, stream, bos, steps, batch_size, seq_len, generator) -> None:
    for _ in range(steps):
        starts = torch.randint(0, len(stream) - seq_len, (batch_size,), generator=generator)
        windows = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
        batch = torch.cat([bos, windows], dim=1)
        loss = model(input_ids=batch, labels=batch).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()


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
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = synthetic_corpus(seed=seed)
    tokenizer = _wordpiece_tokenizer(corpus, vocab_size)
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
            with torch.enable_grad():
                _train_masked_lm(model, tokenizer, corpus, train_steps)
    model.eval()
    _save(directory, model, tokenizer)
    return directory


def _wordpiece_tokenizer(corpus: list[str], vocab_size: int):
    """An uncased BERT-style tokenizer whose vocabulary is built deterministically: special
    tokens, single characters (plain and as '##' continuations), then the corpus's words,
    most frequent first, up to `vocab_size`. (Trained WordPiece vocabularies break ties
    differently from run to run.)"""
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normaliser = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for paragraph in corpus:
        for word, _ in splitter.pre_tokenize_str(normaliser.normalize_str(paragraph)):
            words[word] += 1
    chars = sorted({c for word in words for c in word})
    vocab_list = specials + chars + ["##" + c for c in chars]
    for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab_list) >= vocab_size:
            break
        if word not in vocab_list:
            vocab_list.append(word)
    vocab = {token: i for i, token in enumerate(vocab_list)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normaliser
    backend.pre_tokenizer = splitter
    backend.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _train_masked_lm(model, tokenizer, corpus: list[str], steps: int, batch_size: int = 32) -> None:
    sentences = [s.strip() + "." for p in corpus for s in p.split(".") if s.strip()]
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    model.train()
    for _ in range(steps):
        batch = tokenizer(rng.sample(sentences, batch_size), padding=True, return_tensors="pt")
        labels = batch["input_ids"].clone()
        special = torch.isin(labels, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]))
        chosen = (torch.rand(labels.shape) < 0.15) & ~special
        labels[~chosen] = -100
        inputs = batch["input_ids"].clone()
        inputs[chosen] = tokenizer.mask_token_id
        loss = model(input_ids=inputs, attention_mask=batch["attention_mask"], labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def hook_values(model, hook: str, texts: list[str], window: int = 32) -> torch.Tensor:
    """`model`'s values at TransformerLens hook `hook` over `texts` cut into BOS-prefixed
    windows of `window` tokens, as [tokens, width] (BOS positions left out, heads flattened)."""
    stream = model.to_tokens("\n".join(texts))
    windows = [[model.bos_token_id, *stream[i : i + window]] for i in range(0, len(stream) - window + 1, window)]
    out: list[torch.Tensor] = []
    point = model.bridge.hook_dict[hook]
    handle = point.register_forward_hook(lambda _m, _i, value: out.append(value.detach().float().cpu()))
    try:
        with torch.inference_mode():
            model.bridge(torch.tensor(windows, device=model.device), return_type=None)
    finally:
        handle.remove()
    values = out[0][:, 1:]
    return values.flatten(-2) if values.dim() == 4 else values.reshape(-1, values.shape[-1])


def train_tiny_sae(
    model,
    directory: str | Path,
    *,
    hook: str = "blocks.1.hook_resid_post",
    d_sae: int = 64,
    architecture: str = "standard",
    k: int = 8,
    hook_out: str | None = None,
    steps: int = 300,
    l1: float = 0.2,
    lr: float = 1e-2,
    n_sentences: int = 300,
    seed: int = 0,
) -> Path:
    """Train a small SAE on `model`'s activations at `hook` (synthetic corpus) and write it
    to `directory` in the SAELens layout (cfg.json + sae_weights.safetensors).

    `architecture`: 'standard' (ReLU, L1 penalty), 'topk' (keeps the `k` largest),
    'jumprelu' (trained as standard, then thresholded at each latent's median positive
    pre-activation) or 'transcoder' (reads `hook`, reconstructs `hook_out`, default the
    same layer's `hook_mlp_out`). A second or so on a CPU core.
    """
    from n2g_kb.lm.sae import save_sae

    texts = synthetic_corpus(n_sentences=n_sentences, seed=seed + 1)
    x = hook_values(model, hook, texts)
    transcoder = architecture == "transcoder"
    if transcoder:
        hook_out = hook_out or hook.split(".")[0] + "." + hook.split(".")[1] + ".hook_mlp_out"
        y = hook_values(model, hook_out, texts)
    else:
        y = x
    d_in, d_out = x.shape[1], y.shape[1]
    scale = float(y.var(0).sum())  # the loss is relative to the output's variance
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)  # tiny matrices: one thread avoids oversubscribing a busy CPU
        torch.manual_seed(seed)
        W_enc = (torch.randn(d_in, d_sae) / d_in**0.5).requires_grad_()
        b_enc = torch.zeros(d_sae, requires_grad=True)
        W_dec = (torch.randn(d_sae, d_out) * (scale / d_out) ** 0.5 / d_sae**0.5).requires_grad_()
        b_dec = y.mean(0).clone().requires_grad_()
        optimiser = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                centred = x if transcoder else x - b_dec
                pre = centred @ W_enc + b_enc
                if architecture == "topk":
                    top = torch.topk(pre, k, dim=-1)
                    acts = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
                else:
                    acts = pre.relu()
                loss = ((acts @ W_dec + b_dec - y) ** 2).sum(-1).mean() / scale
                if architecture != "topk":
                    loss = loss + l1 * (acts * W_dec.norm(dim=1)).sum(-1).mean() / scale**0.5
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        torch.set_num_threads(threads)
    weights = {"W_enc": W_enc.detach(), "b_enc": b_enc.detach(), "W_dec": W_dec.detach(), "b_dec": b_dec.detach()}
    if architecture == "jumprelu":
        with torch.no_grad():
            pre = (x - b_dec) @ W_enc + b_enc
            positive = torch.where(pre > 0, pre, torch.nan)
            weights["threshold"] = torch.nan_to_num(positive.nanmedian(dim=0).values, nan=0.0).clamp_min(0.0)
    cfg = {
        "architecture": architecture,
        "d_in": d_in,
        "d_sae": d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": not transcoder,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"model_name": model.name, "hook_name": hook, "prepend_bos": True, "sae_lens_version": "6.18.0"},
    }
    if architecture == "topk":
        cfg["k"] = k
    if transcoder:
        cfg["d_out"] = d_out
        cfg["metadata"]["hook_name_out"] = hook_out
    return save_sae(directory, cfg, weights)


def mine_top_examples(
    model,
    layer: int,
    corpus: list[str],
    *,
    window: int = 32,
    k: int = 20,
    neurons: list[int] | None = None,
    batch_rows: int = 64,
):
    """Simple top-k mining for tests and benches: cut the corpus's token stream into
    windows of `window` tokens, run each with BOS prepended, and keep for every neuron the
    `k` windows with the highest activation plus its max activation over all windows.

    Returns `(examples, max_activations)` keyed by neuron; example tokens and activations
    leave out the BOS position.
    """
    from n2g_kb.n2g.results import Example

    stream = model.to_tokens("\n".join(corpus))
    windows = [stream[i : i + window] for i in range(0, len(stream) - window + 1, window)]
    chosen = list(range(model.d_mlp)) if neurons is None else list(neurons)
    index = torch.tensor(chosen)
    rows = []
    for start in range(0, len(windows), batch_rows):
        batch = torch.tensor([[model.bos_token_id, *w] for w in windows[start : start + batch_rows]])
        acts = model.layer_activations(batch, [layer])[layer][:, 1:, :]
        rows.append(acts[:, :, index.to(acts.device)].float().cpu())
    acts = torch.cat(rows)  # [windows, pos, neurons]
    peak = acts.max(dim=1).values  # [windows, neurons]
    examples = {}
    max_activations = {}
    for column, neuron in enumerate(chosen):
        top = torch.argsort(peak[:, column], descending=True, stable=True)[:k].tolist()
        examples[neuron] = [
            Example(model.to_str_tokens(windows[w]), acts[w, :, column].tolist()) for w in top
        ]
        max_activations[neuron] = float(peak[:, column].max())
    return examples, max_activations


__all__ = [
    "BOS",
    "TINY_ARCHITECTURES",
    "build_tiny_causal_lm",
    "build_tiny_gpt2",
    "build_tiny_masked_lm",
    "corpus_token_stream",
    "mine_top_examples",
    "hook_values",
    "synthetic_corpus",
    "tiny_tokenizer",
    "train_tiny_gpt2",
    "train_tiny_sae",
]


def stored_graphs(store, model: str, layers, neurons) -> dict[tuple[int, int], tuple]:
    """Per (layer, neuron) as stored: status, max activation, trie rows, example tokens.
    For comparing knowledge bases built different ways (tests, bench/scale.py)."""
    out = {}
    for layer in layers:
        for n in neurons:
            r = store.load_neuron(model, layer, n)
            out[(layer, n)] = (r.status, r.max_activation, r.trie_nodes, [list(e.tokens) for e in r.examples])
    return out


def graph_differences(a: dict, b: dict, tolerance: float = 1e-4) -> list[str]:
    """Where two `stored_graphs` snapshots differ (floats within `tolerance`): [] when
    every neuron has the same status, examples and trie rows."""
    out = [f"{key}: only in one" for key in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        (status_a, max_a, nodes_a, ex_a), (status_b, max_b, nodes_b, ex_b) = a[key], b[key]
        if (status_a, ex_a) != (status_b, ex_b):
            out.append(f"{key}: status or examples differ")
        elif abs(max_a - max_b) > tolerance or len(nodes_a) != len(nodes_b):
            out.append(f"{key}: max activation or trie size differs")
        elif any(not _rows_close(x, y, tolerance) for x, y in zip(nodes_a, nodes_b)):
            out.append(f"{key}: trie rows differ")
    return out


def _rows_close(x: dict, y: dict, tolerance: float) -> bool:
    if x.keys() != y.keys():
        return False
    for field in x:
        u, v = x[field], y[field]
        if isinstance(u, float) and isinstance(v, float):
            if abs(u - v) > tolerance:
                return False
        elif u != v:
            return False
    return True
