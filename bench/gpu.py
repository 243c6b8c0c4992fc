"""The ingest's reason to exist, timed: GPT-2-small-sized, every layer, on one GPU.

    python bench/gpu.py                                   # on CUDA: 12 layers, 16 neurons each
    python bench/gpu.py --device cpu --layers 0 --neurons 4 --tokens 20000 --augmenter tiny   # CPU check

Builds a model of GPT-2 small's shape (12 layers, d_model 768, 12 heads, d_mlp 3072, 50257
tokens, 1024 positions) from its config with random weights (nothing is downloaded), with
a small BPE tokenizer trained on the synthetic corpus, saved and loaded through the real
path (`load_model`, `--dtype auto`: bfloat16 on a GPU that supports it). Then, as
`n2gkb ingest` does: one mining pass over `--tokens` corpus tokens for EVERY neuron of the
chosen layers, and extraction of `--neurons` neurons per layer with a masked LM
(`--augmenter base`: DistilBERT-base-sized, random weights; `tiny`; or `none`) sharing
the device. Prints:

- neurons/s of extraction, and mining tokens/s;
- the pipeline's model tokens/s against a plain batched forward to the same layer at the
  same shapes (utilisation), per layer;
- time in Python outside model calls (and masked-LM calls), as a share of the run;
- peak GPU memory;
- the projected time for all 36,864 neurons of GPT-2 small including writes, from the
  measured per-neuron extraction time of each layer (layers not run are scaled by depth),
  one mining pass over 12 layers, and writing at `--write-rate` nodes+relationships/s
  (Neo4j over Bolt; bench/ingest.py measures it) overlapped with extraction on the
  writer thread, as the ingest runner does. Neuron graphs are serialised for real
  (`neuron_params`) to count their nodes and relationships.

`--json OUT` writes the figures. Meant to finish in under 5 minutes on one H100.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.extract import TimedAugmenter, ceiling, sync  # noqa: E402
from n2g_kb.kb.store import neuron_params  # noqa: E402
from n2g_kb.lm.model import best_device, load_model  # noqa: E402
from n2g_kb.n2g.augment import load_augmenter  # noqa: E402
from n2g_kb.n2g.config import N2GConfig  # noqa: E402
from n2g_kb.n2g.extract import extract_neurons  # noqa: E402
from n2g_kb.runners.mining import MiningOptions, mine  # noqa: E402
from n2g_kb.selection import parse_ranges  # noqa: E402
from n2g_kb.testing import _save, _train_bpe_tokenizer, build_tiny_masked_lm, synthetic_corpus  # noqa: E402

GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, n_inner=3072, vocab_size=50257, n_positions=1024)
ALL_NEURONS = 12 * 3072


def build_gpt2_small(directory: Path, corpus: list[str]) -> Path:
    """GPT-2 small's shape with random weights and a small BPE tokenizer (ids < 2000)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = _train_bpe_tokenizer(corpus, 2000)
    config = GPT2Config(**GPT2_SMALL, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    _save(directory, GPT2LMHeadModel(config), tokenizer)
    return directory


def build_mlm(directory: Path, size: str) -> Path:
    """A masked LM with our WordPiece tokenizer: DistilBERT-base's shape or a tiny one."""
    if size == "tiny":
        return build_tiny_masked_lm(directory)
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    from n2g_kb.testing import _wordpiece_tokenizer

    tokenizer = _wordpiece_tokenizer(synthetic_corpus(), 4000)
    config = DistilBertConfig(vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    _save(directory, DistilBertForMaskedLM(config), tokenizer)
    return directory


def token_windows(model, corpus: list[str], context: int, max_tokens: int):
    stream = model.to_tokens("\n".join(corpus))
    while len(stream) < max_tokens:
        stream = stream + stream
    stream = stream[:max_tokens]
    return [stream[i : i + context] for i in range(0, len(stream) - context + 1, context)]


def graph_size(results) -> int:
    """Nodes + relationships a batch of neuron graphs writes (Neuron, trie, tokens, examples)."""
    params = neuron_params("bench", results)
    total = 0
    for n in params["neurons"]:
        trie = len(n["nodes"])
        total += 2 + 2 * trie + 2 * (len(n["firing"]) + len(n["context"])) + (2 if n["examples"] else 0)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: best available)")
    parser.add_argument("--dtype", default="auto", help="float32, bfloat16, float16 or auto")
    parser.add_argument("--layers", default="0-11", help="layers to mine and extract, e.g. 0-11 or 0")
    parser.add_argument("--neurons", type=int, default=16, help="neurons extracted per layer (spread over d_mlp)")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="corpus tokens mined (all neurons of the layers)")
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--augmenter", choices=["base", "tiny", "none"], default="base")
    parser.add_argument("--write-rate", type=float, default=20_000.0, help="Neo4j write rate, nodes+rels/s")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    device = args.device or best_device()
    torch.set_grad_enabled(False)
    layers = sorted(parse_ranges(args.layers, "--layers"))
    on_cuda = device.startswith("cuda")
    figures: dict = {"device": device, "layers": layers, "neurons_per_layer": args.neurons, "tokens": args.tokens}
    if on_cuda:
        figures["gpu"] = torch.cuda.get_device_name(0)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = synthetic_corpus(6000)
        path = build_gpt2_small(Path(tmp) / "gpt2-small", corpus)
        model = load_model(str(path), device=device, dtype=args.dtype)
        figures["dtype"] = str(model.dtype).replace("torch.", "")
        augmenter = None
        if args.augmenter != "none":
            mlm = build_mlm(Path(tmp) / "mlm", args.augmenter)
            augmenter = TimedAugmenter(load_augmenter(str(mlm), device=model.device))
        figures["setup_s"] = time.perf_counter() - started
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()

        # 1. Mining: every neuron of the chosen layers, one pass.
        windows = token_windows(model, corpus, args.context, args.tokens)
        batch = model.mining_batch(32, args.context + 1, len(layers))
        options = MiningOptions(n_examples=20, context=args.context, max_tokens=args.tokens, batch_size=batch)
        model.stats.reset()
        sync(device)
        t0 = time.perf_counter()
        mined = mine(model, layers, list(range(model.d_mlp)), windows, options)
        sync(device)
        mine_s = time.perf_counter() - t0
        figures["mining"] = {
            "seconds": mine_s, "tokens": mined.n_tokens, "tokens_per_s": mined.n_tokens / mine_s, "batch_windows": batch,
        }  # fmt: skip

        # 2. Extraction, layer by layer, N neurons each.
        config = N2GConfig(augment_model=None, n_substitutes=0 if augmenter is None else 5)
        step = max(1, model.d_mlp // max(1, args.neurons))
        chosen = list(range(0, model.d_mlp, step))[: args.neurons]
        per_layer = {}
        elements = 0
        for layer in layers:
            examples = {n: mined.examples(layer, n, model.to_str_tokens) for n in chosen}
            maxima = mined.max_activations(layer, chosen)
            if augmenter is not None:
                augmenter.seconds = 0.0
            model.stats.reset()
            sync(device)
            t0 = time.perf_counter()
            results = extract_neurons(model, layer, chosen, examples, maxima, config, augmenter=augmenter)
            sync(device)
            wall = time.perf_counter() - t0
            stats = replace(model.stats)
            t0 = time.perf_counter()
            size = graph_size(results)
            serialise_s = time.perf_counter() - t0
            elements += size
            width = max(1, round(stats.padded_tokens / max(1, stats.rows)))
            rows = max(1, min(config.max_batch_rows, model.batch_token_cap(config.batch_tokens) // width))
            plain = ceiling(model, layer, width, rows)
            mlm_s = augmenter.seconds if augmenter is not None else 0.0
            per_layer[layer] = {
                "seconds": wall,
                "neurons": len(chosen),
                "ok": sum(r.status == "ok" for r in results),
                "neurons_per_s": len(chosen) / wall,
                "model_s": stats.seconds,
                "mlm_s": mlm_s,
                "python_s": wall - stats.seconds - mlm_s,
                "padded_tokens": stats.padded_tokens,
                "pipeline_tokens_per_s": stats.padded_tokens / wall,
                "plain_tokens_per_s": plain,
                "utilisation": stats.padded_tokens / wall / plain,
                "graph_elements": size,
                "serialise_s": serialise_s,
            }
        if on_cuda:
            figures["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30

    # 3. Projection for all 36,864 neurons of GPT-2 small.
    depth = {layer: (layer + 1) for layer in range(12)}

    def per_neuron(layer: int) -> float:
        if layer in per_layer:
            return per_layer[layer]["seconds"] / per_layer[layer]["neurons"]
        nearest = min(per_layer, key=lambda l: abs(l - layer))  # noqa: E741
        return per_layer[nearest]["seconds"] / per_layer[nearest]["neurons"] * depth[layer] / depth[nearest]

    extract_all = sum(per_neuron(layer) * 3072 for layer in range(12))
    mine_all = mine_s * (12 / (max(layers) + 1))  # one pass; its forward reaches the deepest layer
    done = sum(v["neurons"] for v in per_layer.values())
    write_all = elements / max(1, done) * ALL_NEURONS / args.write_rate
    figures["projection"] = {
        "mine_s": mine_all,
        "extract_s": extract_all,
        "write_s": write_all,
        "total_s": mine_all + max(extract_all, write_all),
        "total_serial_s": mine_all + extract_all + write_all,
    }
    wall_total = sum(v["seconds"] for v in per_layer.values())
    python_total = sum(v["python_s"] for v in per_layer.values())
    figures["extraction"] = {
        "seconds": wall_total,
        "neurons": done,
        "neurons_per_s": done / wall_total,
        "python_share": python_total / wall_total,
        # over all layers: the time a plain forward needs for the pipeline's tokens / the pipeline's time
        "utilisation": sum(v["padded_tokens"] / v["plain_tokens_per_s"] for v in per_layer.values()) / wall_total,
    }
    figures["bench_s"] = time.perf_counter() - started
    report(figures, per_layer)
    if args.json:
        args.json.write_text(json.dumps({**figures, "per_layer": per_layer}, indent=2))


def report(f: dict, per_layer: dict) -> None:
    m, e, p = f["mining"], f["extraction"], f["projection"]
    print(f"device           {f['device']}{' (' + f['gpu'] + ')' if 'gpu' in f else ''}, dtype {f['dtype']}")
    print("model            GPT-2-small-sized (12 x 3072 neurons), random weights, built from its config")
    print(
        f"mining           {m['tokens']:,} tokens x every neuron of layers {f['layers'][0]}-{f['layers'][-1]} "
        f"in {m['seconds']:.1f} s = {m['tokens_per_s']:,.0f} tokens/s ({m['batch_windows']} windows per forward)"
    )
    print("layer  neurons  ok   s      neurons/s  pipeline tok/s  plain tok/s  utilisation  python  masked LM")
    for layer, v in per_layer.items():
        print(
            f"{layer:>5}  {v['neurons']:>7}  {v['ok']:>3}  {v['seconds']:>5.1f}  {v['neurons_per_s']:>9.2f}  "
            f"{v['pipeline_tokens_per_s']:>14,.0f}  {v['plain_tokens_per_s']:>11,.0f}  {v['utilisation']:>11.0%}  "
            f"{v['python_s'] / v['seconds']:>6.0%}  {v['mlm_s'] / v['seconds']:>9.0%}"
        )
    print(
        f"extraction       {e['neurons']} neurons in {e['seconds']:.1f} s = {e['neurons_per_s']:.2f} neurons/s; "
        f"utilisation {e['utilisation']:.0%} of a plain forward; Python outside model calls {e['python_share']:.0%} of the run"
    )
    if "peak_gpu_memory_gib" in f:
        print(f"peak GPU memory  {f['peak_gpu_memory_gib']:.2f} GiB")
    print(
        f"projected        all {ALL_NEURONS:,} neurons: mining {p['mine_s'] / 60:.1f} min + extraction "
        f"{p['extract_s'] / 60:.1f} min, writes {p['write_s'] / 60:.1f} min overlapped "
        f"= {p['total_s'] / 60:.1f} min ({p['total_serial_s'] / 60:.1f} min if nothing overlapped)"
    )
    print(f"bench time       {f['bench_s']:.0f} s (setup {f['setup_s']:.0f} s)")


if __name__ == "__main__":
    main()
