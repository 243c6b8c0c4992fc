"""How fast is batched N2G extraction, and how close does it get to the model's own speed?

    python bench/extract.py                       # builds a small random GPT-2 in a temp dir
    python bench/extract.py --model path/or/name --layer 3 --neurons 64 --device cuda

Prints neurons/s, model tokens per neuron, tokens/s through the model inside the
pipeline, and the tokens/s of a plain batched forward up to the same layer at the same
shapes on the same device (the ceiling), with their ratio. Examples are mined from the
synthetic corpus by a simple top-k pass (not timed). Augmentation uses a tiny masked LM
built in the temp dir (`--no-augment` to skip it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from n2g_kb.n2g.augment import MaskedWord, load_augmenter  # noqa: E402
from n2g_kb.n2g.config import N2GConfig  # noqa: E402
from n2g_kb.n2g.extract import extract_neurons  # noqa: E402
from n2g_kb.lm.model import LoadedModel, best_device, load_model  # noqa: E402
from n2g_kb.testing import build_tiny_gpt2, build_tiny_masked_lm, mine_top_examples, synthetic_corpus  # noqa: E402


class TimedAugmenter:
    """Wraps an augmenter to time its masked-LM calls."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.mask_token = inner.mask_token
        self.seconds = 0.0
        self.texts = 0

    def propose(self, masked: list[MaskedWord], n: int, min_prob: float) -> list[list[str]]:
        began = time.perf_counter()
        try:
            return self.inner.propose(masked, n, min_prob)
        finally:
            self.seconds += time.perf_counter() - began
            self.texts += len(masked)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ceiling(model: LoadedModel, layer: int, width: int, rows: int, repeats: int = 5) -> float:
    """Tokens/s of a plain forward up to `layer` on full [rows, width] batches."""
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, len(model.tokenizer), (rows, width), generator=g)
    model.layer_activations(tokens, [layer])  # warm-up
    sync(model.device)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        acts = model.layer_activations(tokens, [layer])[layer]
        acts[:, :, 0].float().cpu()
        sync(model.device)
        times.append(time.perf_counter() - began)
    return rows * width / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="HF name or local dir (default: build a small random GPT-2)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: best available)")
    parser.add_argument("--layer", type=int, default=1)
    parser.add_argument("--neurons", type=int, default=32, help="how many neurons (0..n-1) to extract")
    parser.add_argument("--batch-tokens", type=int, default=32768, help="padded-token budget per model batch")
    parser.add_argument("--batch-size", type=int, default=1024, help="max rows per model batch")
    parser.add_argument("--window", type=int, default=64, help="tokens per mined example")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or best_device()
    torch.set_grad_enabled(False)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or str(
            build_tiny_gpt2(Path(tmp) / "gpt2", n_layers=4, d_model=256, d_mlp=1024, n_heads=4, n_ctx=256)
        )
        model = load_model(path, device=device)
        neurons = list(range(min(args.neurons, model.d_mlp)))
        examples, maxima = mine_top_examples(
            model, args.layer, synthetic_corpus(3000), window=args.window, k=20, neurons=neurons
        )
        augmenter = None
        if not args.no_augment:
            augmenter = TimedAugmenter(load_augmenter(str(build_tiny_masked_lm(Path(tmp) / "mlm")), device=device))
        config = N2GConfig(
            augment_model=None,
            n_substitutes=0 if args.no_augment else 5,
            batch_tokens=args.batch_tokens,
            max_batch_rows=args.batch_size,
            max_length=min(1024, model.n_ctx),
        )
        # warm-up on two neurons, then the timed run
        extract_neurons(model, args.layer, neurons[:2], examples, maxima, config, augmenter=augmenter)
        if augmenter is not None:
            augmenter.seconds, augmenter.texts = 0.0, 0
        model.stats.reset()
        sync(device)
        began = time.perf_counter()
        results = extract_neurons(model, args.layer, neurons, examples, maxima, config, augmenter=augmenter)
        sync(device)
        wall = time.perf_counter() - began
        stats = replace(model.stats)
        width = max(1, round(stats.padded_tokens / max(1, stats.rows)))
        rows = max(1, min(args.batch_size, args.batch_tokens // width))
        plain = ceiling(model, args.layer, width, rows)

    ok = sum(r.status == "ok" for r in results)
    inside = stats.padded_tokens / wall
    useful = stats.real_tokens / wall
    print(f"model            {path} on {device}, layer {args.layer}, d_mlp {model.d_mlp}")
    print(f"neurons          {len(neurons)} ({ok} ok) in {wall:.2f} s = {len(neurons) / wall:.2f} neurons/s")
    print(
        f"model tokens     {stats.padded_tokens / len(neurons):,.0f} padded per neuron "
        f"({stats.real_tokens / len(neurons):,.0f} real, {stats.requested_tokens / len(neurons):,.0f} requested "
        f"before merging identical sequences), {stats.forward_calls} forward calls, mean width {width}"
    )
    print(
        f"time split       model calls {stats.seconds:.2f} s ({100 * stats.seconds / wall:.0f}%), "
        f"masked LM {augmenter.seconds if augmenter else 0:.2f} s, rest (python) "
        f"{wall - stats.seconds - (augmenter.seconds if augmenter else 0):.2f} s"
    )
    print(f"pipeline         {inside:,.0f} model tokens/s (padded tokens / wall time), {useful:,.0f} real tokens/s")
    print(f"model calls      {stats.padded_tokens / max(stats.seconds, 1e-9):,.0f} tokens/s while in model calls")
    overhead = wall - stats.seconds
    print(
        f"overhead         {1000 * overhead / len(neurons):.1f} ms per neuron outside model calls "
        f"(python + masked LM): the pipeline can feed at most {stats.padded_tokens / max(overhead, 1e-9):,.0f} tokens/s"
    )
    print(f"ceiling          {plain:,.0f} tokens/s (plain forward to layer {args.layer}, {rows} x {width} tokens)")
    print(
        f"ratio            {inside / plain:.2f} of the ceiling over the whole pipeline "
        f"({useful / plain:.2f} counting real tokens only)"
    )


if __name__ == "__main__":
    main()
