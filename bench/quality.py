"""How good are the tries? N2G against the token-lookup baseline on a small trained model.

    python bench/quality.py                  # trains a tiny 3-layer GPT-2 (~ a minute or two on CPU)
    python bench/quality.py --workdir /tmp/n2g-quality --neurons 32

Trains (or reuses, with --workdir) a tiny GPT-2 and a tiny masked LM on the synthetic
corpus, mines each sampled neuron's top-20 windows from a fresh corpus (different seed)
by a simple top-k pass, extracts with the paper's defaults, and prints per layer the mean
firing-token precision / recall / F1 on held-out examples for N2G, the token-lookup
baseline and the bigram baseline, over neurons whose test examples hold any firing token
(as the reference's summary does). Then shows, for the neurons where N2G and the token
baseline differ most, which tokens make the difference.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from n2g_kb.n2g.augment import load_augmenter  # noqa: E402
from n2g_kb.n2g.config import N2GConfig  # noqa: E402
from n2g_kb.n2g.extract import extract_neurons  # noqa: E402
from n2g_kb.n2g.metrics import TokenLookupBaseline  # noqa: E402
from n2g_kb.lm.model import load_model  # noqa: E402
from n2g_kb.n2g.results import NeuronResult  # noqa: E402
from n2g_kb.testing import build_tiny_masked_lm, mine_top_examples, synthetic_corpus, train_tiny_gpt2  # noqa: E402
from n2g_kb.n2g.trie import Trie  # noqa: E402


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


def show_difference(result: NeuronResult, limit: int = 4) -> None:
    trie = Trie.from_rows(result.trie_nodes)
    scale = 1 / result.max_activation
    train = [e for e in result.examples if e.split == "train"]
    test = [e for e in result.examples if e.split == "test"]
    lookup = TokenLookupBaseline().fit([e.tokens for e in train], [[a * scale for a in e.activations] for e in train])
    m = result.metrics
    print(
        f"\n  neuron L{result.layer}/{result.index}: N2G P/R/F1 {m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f}, "
        f"token lookup {m['baseline_token_precision']:.2f}/{m['baseline_token_recall']:.2f}/"
        f"{m['baseline_token_f1']:.2f}"
    )
    top = sorted(result.firing_tokens.items(), key=lambda kv: -kv[1])[:8]
    print("    firing tokens:", ", ".join(f"{t!r} {a:.2f}" for t, a in top))
    patterns = sorted(trie.patterns(), key=lambda p: -len(p[0]))[:3]
    for path, activation in patterns:
        print(f"    pattern (firing token first, going back): {path} -> {activation:.2f}")
    shown = 0
    for example in test:
        truth = [a * scale for a in example.activations]
        ours, theirs = trie.predict(example.tokens), lookup.predict(example.tokens)
        for j, token in enumerate(example.tokens):
            fires, n2g, base = truth[j] >= 0.5, ours[j] >= 0.5, theirs[j] >= 0.5
            if n2g == base or shown >= limit:
                continue
            context = "".join(example.tokens[max(0, j - 6) : j]).replace("\n", "\\n")
            winner = "N2G right" if n2g == fires else "lookup right"
            print(
                f"    ...{context}[{token}]  truth {truth[j]:.2f}, N2G {ours[j]:.2f}, lookup {theirs[j]:.2f} ({winner})"
            )
            shown += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/n2g-kb-quality", help="where the tiny models are trained and kept")
    parser.add_argument("--steps", type=int, default=600, help="training steps of the tiny GPT-2")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--neurons", type=int, default=32, help="neurons sampled per layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=3, help="neurons to explain in detail")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    gpt, mlm = prepare(Path(args.workdir), args.steps, args.layers)
    model = load_model(str(gpt), device="cpu")
    augmenter = load_augmenter(str(mlm), device="cpu")
    config = N2GConfig(augment_model=None, max_length=128)
    corpus = synthetic_corpus(4000, seed=args.seed + 1)  # not the training text
    rng = random.Random(args.seed)
    all_results: list[NeuronResult] = []
    print(f"model {gpt}: {model.n_layers} layers x {model.d_mlp} neurons; {args.neurons} sampled per layer")
    header = (
        f"{'layer':>5} {'n':>3}  {'N2G P':>6} {'R':>5} {'F1':>5}  {'token P':>7} {'R':>5} {'F1':>5}  "
        f"{'bigram F1':>9}  {'dead/failed':>11}"
    )
    rows = [header]
    for layer in range(model.n_layers):
        neurons = sorted(rng.sample(range(model.d_mlp), args.neurons))
        examples, maxima = mine_top_examples(model, layer, corpus, window=64, k=20, neurons=neurons)
        began = time.perf_counter()
        results = extract_neurons(model, layer, neurons, examples, maxima, config, augmenter=augmenter)
        seconds = time.perf_counter() - began
        all_results.extend(results)
        scored = [r for r in results if r.status == "ok" and r.metrics.get("support", 0) > 0]
        m = lambda key: mean([r.metrics[key] for r in scored])  # noqa: E731
        bad = sum(r.status != "ok" for r in results)
        rows.append(
            f"{layer:>5} {len(scored):>3}  {m('precision'):>6.2f} {m('recall'):>5.2f} {m('f1'):>5.2f}  "
            f"{m('baseline_token_precision'):>7.2f} {m('baseline_token_recall'):>5.2f} {m('baseline_token_f1'):>5.2f}  "
            f"{m('baseline_ngram_f1'):>9.2f}  {bad:>11}"
        )
        print(f"layer {layer}: {len(neurons)} neurons extracted in {seconds:.1f} s")
    print("\nFiring-token scores on held-out examples (mean over neurons with firing test tokens):")
    print("\n".join(rows))
    scored = [r for r in all_results if r.status == "ok" and r.metrics.get("support", 0) > 0]
    wins = sum(r.metrics["f1"] > r.metrics["baseline_token_f1"] for r in scored)
    losses = sum(r.metrics["f1"] < r.metrics["baseline_token_f1"] for r in scored)
    print(f"\nN2G F1 above token lookup on {wins} neurons, below on {losses}, equal on {len(scored) - wins - losses}")
    ranked = sorted(scored, key=lambda r: r.metrics["f1"] - r.metrics["baseline_token_f1"])
    print("\nWhere the difference comes from (largest N2G gains, then largest losses):")
    for result in ranked[::-1][: args.examples] + ranked[: max(1, args.examples // 2)]:
        show_difference(result)


if __name__ == "__main__":
    main()
