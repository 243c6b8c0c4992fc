"""How good are the graphs? n2g+ and the paper's N2G against the paper's baselines, on a small
trained model, scored on held-out top examples and on held-out random text.

    python bench/quality.py                       # trains a tiny 3-layer GPT-2 (~ a minute or two on CPU)
    python bench/quality.py --neurons 32 --json /tmp/quality.json

Trains (or reuses, with --workdir) a tiny GPT-2 and a tiny masked LM on the synthetic
corpus, then runs the real mining pass (`n2g_kb.runners.mining.mine`) over a fresh corpus
(different seed): every neuron's top-20 windows, windows sampled across its activation
range, non-firing windows, and held-out random windows that the pass sets aside. Each
method extracts the sampled neurons of every layer from the same mined data, and prints:

1. per layer, mean firing F1 (and non-firing F1) of n2g+, the paper method, the token-
   lookup and the n-gram baselines (fitted on the paper's training split, the top train
   examples), on (a) the held-out top examples (the paper's evaluation) and (b) the held-out
   random text (where false positives on ordinary text count); means are over neurons
   whose scored text holds a firing token, as the reference's summary does;
2. an ablation: n2g+ with each switch turned off (and, with --paper-ablation, the paper
   method with each turned on);
3. model tokens per neuron of each method (tokens run through the model by extraction).
`--json OUT` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from n2g_kb.lm.model import load_model  # noqa: E402
from n2g_kb.n2g.augment import load_augmenter  # noqa: E402
from n2g_kb.n2g.config import IMPROVED, IMPROVED_SETTINGS, IMPROVEMENTS, PAPER, N2GConfig  # noqa: E402
from n2g_kb.n2g.extract import RANDOM_PREFIX, extract_neurons  # noqa: E402
from n2g_kb.n2g.results import NeuronResult  # noqa: E402
from n2g_kb.runners.corpus import token_windows  # noqa: E402
from n2g_kb.runners.mining import MiningOptions, mine  # noqa: E402
from n2g_kb.testing import build_tiny_masked_lm, synthetic_corpus, train_tiny_gpt2  # noqa: E402

EVALS = (("top", ""), ("random", RANDOM_PREFIX))


def prepare(workdir: Path, steps: int, n_layers: int) -> tuple[Path, Path]:
    gpt, mlm = workdir / f"gpt2-{n_layers}l-{steps}", workdir / "mlm"
    if not (gpt / "trained").is_file():
        began = time.perf_counter()
        train_tiny_gpt2(gpt, steps=steps, n_layers=n_layers)
        (gpt / "trained").write_text(f"{steps} steps\n")
        print(f"trained {gpt} in {time.perf_counter() - began:.0f} s")
    if not (mlm / "trained").is_file():
        build_tiny_masked_lm(mlm, train_steps=300)
        (mlm / "trained").write_text("300 steps\n")
    return gpt, mlm


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def summarise(results: list[NeuronResult], prefix: str) -> dict[str, float]:
    """Means over ok neurons: firing figures over those with firing tokens in the scored
    text, non-firing F1 over those with non-firing tokens."""
    ok = [r for r in results if r.status == "ok" and f"{prefix}support" in r.metrics]
    firing = [r for r in ok if r.metrics[f"{prefix}support"] > 0]
    quiet = [r for r in ok if r.metrics[f"{prefix}nonfiring_support"] > 0]
    m = lambda rs, key: mean([r.metrics[prefix + key] for r in rs])  # noqa: E731
    return {
        "neurons": len(firing),
        "f1": m(firing, "f1"),
        "precision": m(firing, "precision"),
        "recall": m(firing, "recall"),
        "nonfiring_f1": m(quiet, "nonfiring_f1"),
        "token_f1": m(firing, "baseline_token_f1"),
        "token_nonfiring_f1": m(quiet, "baseline_token_nonfiring_f1"),
        "ngram_f1": m(firing, "baseline_ngram_f1"),
    }


def run_method(model, layers, chosen, mined, config, augmenter) -> dict:
    """Extract every chosen neuron with `config`; per-layer summaries and tokens per neuron."""
    out = {"layers": {}, "tokens": 0, "neurons": 0, "seconds": 0.0}
    everything: list[NeuronResult] = []
    for layer in layers:
        neurons = chosen[layer]
        examples = {n: mined.examples(layer, n, model.to_str_tokens) for n in neurons}
        extra = {n: mined.extra(layer, n, model.to_str_tokens) for n in neurons}
        maxima = mined.max_activations(layer, neurons)
        model.stats.reset()
        began = time.perf_counter()
        results = extract_neurons(model, layer, neurons, examples, maxima, config, augmenter=augmenter, extra=extra)
        out["seconds"] += time.perf_counter() - began
        out["tokens"] += model.stats.real_tokens
        out["neurons"] += len(neurons)
        everything.extend(results)
        out["layers"][layer] = {name: summarise(results, prefix) for name, prefix in EVALS}
        out["layers"][layer]["failed"] = sum(r.status == "failed" for r in results)
    out["all"] = {name: summarise(everything, prefix) for name, prefix in EVALS}
    out["tokens_per_neuron"] = out["tokens"] / max(1, out["neurons"])
    out["trie_nodes_per_neuron"] = mean([float(len(r.trie_nodes)) for r in everything if r.status == "ok"])
    out["patterns_with_context"] = mean(
        [sum(1 for n in r.trie_nodes if n["end_activation"] is not None and n["depth"] > 1) for r in everything if r.status == "ok"]
    )
    return out


def layer_table(figures: dict, layers: list[int]) -> str:
    new, paper = figures[IMPROVED], figures[PAPER]
    lines = []
    for name, title in (("top", "held-out top examples"), ("random", "held-out random text")):
        lines.append(f"\nFiring F1 per layer on {title} (n: neurons with firing tokens there):")
        lines.append(
            f"{'layer':>5} {'n':>3}  {'n2g+':>6} {'paper':>6} {'token':>6} {'ngram':>6}  "
            f"{'n2g+-token':>10} {'n2g+-paper':>10}  {'nonfiring n2g+':>14} {'paper':>6} {'token':>6}"
        )
        for layer in [*layers, "all"]:
            a = new["all" if layer == "all" else "layers"]
            b = paper["all" if layer == "all" else "layers"]
            a, b = (a, b) if layer == "all" else (a[layer], b[layer])
            a, b = a[name], b[name]
            lines.append(
                f"{layer!s:>5} {a['neurons']:>3}  {a['f1']:>6.3f} {b['f1']:>6.3f} {b['token_f1']:>6.3f} {b['ngram_f1']:>6.3f}  "
                f"{a['f1'] - b['token_f1']:>+10.3f} {a['f1'] - b['f1']:>+10.3f}  "
                f"{a['nonfiring_f1']:>14.3f} {b['nonfiring_f1']:>6.3f} {b['token_nonfiring_f1']:>6.3f}"
            )
    return "\n".join(lines)


def ablation_table(figures: dict) -> str:
    lines = [
        "\nAblation (all layers): firing F1 / non-firing F1 on each evaluation, model tokens per neuron",
        f"{'method':<28} {'top F1':>7} {'nonf':>6} {'random F1':>9} {'nonf':>6} {'tokens/neuron':>13} {'trie nodes':>10}",
    ]
    for label, f in figures.items():
        top, rnd = f["all"]["top"], f["all"]["random"]
        lines.append(
            f"{label:<28} {top['f1']:>7.3f} {top['nonfiring_f1']:>6.3f} {rnd['f1']:>9.3f} {rnd['nonfiring_f1']:>6.3f} "
            f"{f['tokens_per_neuron']:>13.0f} {f['trie_nodes_per_neuron']:>10.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/n2g-kb-quality", help="where the tiny models are trained and kept")
    parser.add_argument("--steps", type=int, default=600, help="training steps of the tiny GPT-2")
    parser.add_argument("--layers", type=int, default=3, help="layers of the tiny GPT-2")
    parser.add_argument("--neurons", type=int, default=32, help="neurons sampled per layer")
    parser.add_argument("--sentences", type=int, default=6000, help="sentences of the mining corpus")
    parser.add_argument("--heldout", type=int, default=48, help="held-out random windows set aside by mining")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ablation", action="store_true", help="only the two methods, no ablation runs")
    parser.add_argument("--paper-ablation", action="store_true", help="also the paper method with each switch on")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--json", dest="json_out", default=None, help="write every figure to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    gpt, mlm = prepare(Path(args.workdir), args.steps, args.layers)
    model = load_model(str(gpt), device="cpu")
    augmenter = load_augmenter(str(mlm), device="cpu")
    improved = N2GConfig.for_method(IMPROVED, augment_model=None, max_length=128, seed=args.seed)
    paper = N2GConfig.for_method(PAPER, augment_model=None, max_length=128, seed=args.seed)
    layers = list(range(model.n_layers))
    rng = random.Random(args.seed)
    chosen = {layer: sorted(rng.sample(range(model.d_mlp), args.neurons)) for layer in layers}
    options = MiningOptions(
        n_examples=paper.n_examples,
        context=64,
        max_tokens=None,
        batch_size=64,
        heldout=args.heldout,
        heldout_fraction=0.1,
        samples=improved.sample_examples,
        sample_bins=improved.sample_bins,
        negatives=improved.negative_examples,
        seed=args.seed,
    )
    corpus = synthetic_corpus(args.sentences, seed=args.seed + 1)  # not the training text
    eos = model.tokenizer.eos_token_id
    began = time.perf_counter()
    mined = mine(model, layers, list(range(model.d_mlp)), token_windows(corpus, model.to_tokens_batch, eos, 64), options)
    print(
        f"model {gpt}: {model.n_layers} layers x {model.d_mlp} neurons, {args.neurons} sampled per layer; mined "
        f"{mined.n_tokens:,} tokens ({mined.n_windows} windows, {mined.counts.get('heldout', 0)} held out) "
        f"in {time.perf_counter() - began:.1f} s"
    )
    configs = {IMPROVED: improved, PAPER: paper}
    if not args.no_ablation:
        for switch in IMPROVEMENTS:
            configs[f"{IMPROVED} without {switch}"] = improved.without(switch)
    if args.paper_ablation:
        for switch in IMPROVEMENTS:
            configs[f"{PAPER} with {switch}"] = replace(paper, **{switch: IMPROVED_SETTINGS[switch]})
    figures = {}
    for label, config in configs.items():
        figures[label] = run_method(model, layers, chosen, mined, config, augmenter)
        f = figures[label]
        print(f"{label}: {f['neurons']} neurons in {f['seconds']:.1f} s, {f['tokens_per_neuron']:.0f} model tokens per neuron")
    print(layer_table(figures, layers))
    print(ablation_table(figures))
    ratio = figures[IMPROVED]["tokens_per_neuron"] / figures[PAPER]["tokens_per_neuron"]
    print(
        f"\nModel tokens per neuron: n2g+ {figures[IMPROVED]['tokens_per_neuron']:.0f}, paper "
        f"{figures[PAPER]['tokens_per_neuron']:.0f} ({ratio:.2f}x)"
    )
    if args.json_out:
        payload = {
            "model": str(gpt),
            "neurons_per_layer": args.neurons,
            "mined_tokens": mined.n_tokens,
            "heldout_windows": mined.counts.get("heldout", 0),
            "configs": {label: c.to_dict() for label, c in configs.items()},
            "figures": figures,
            "tokens_ratio": ratio,
        }
        Path(args.json_out).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
