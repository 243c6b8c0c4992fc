"""Do gated MLPs and SAE latents cost more model work per unit than GPT-2 neurons? (CPU)

    python bench/units.py                       # 32 units each, 30k corpus tokens
    python bench/units.py --units 16 --tokens 10000 --json units.json

Builds, in-process and at the same width (d_model 64, 256 units per layer, 2 layers): a
tiny GPT-2 and a tiny Llama (gated MLP); trains a 256-latent SAE on the GPT-2's layer-1
residual stream and a 256-feature transcoder on its layer-1 MLP, both written and read
back in the SAELens layout. Each unit kind then goes through what `n2gkb ingest` does:
one mining pass (every unit of layer 1) and extraction of `--units` units (no masked LM,
so every figure is deterministic). Prints, per unit: model forward calls, padded and
real tokens through the model during extraction, mining tokens, and seconds. The model
work per unit depends only on the pipeline, not on the unit kind: a latent is gathered
from the same forward pass that ends at its hook, a gated neuron from the one that ends
at its layer's down projection.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from n2g_kb.lm.model import load_model  # noqa: E402
from n2g_kb.lm.sae import load_sae  # noqa: E402
from n2g_kb.n2g.config import N2GConfig  # noqa: E402
from n2g_kb.n2g.extract import extract_neurons  # noqa: E402
from n2g_kb.runners.mining import MiningOptions, mine  # noqa: E402
from n2g_kb.testing import build_tiny_causal_lm, build_tiny_gpt2, synthetic_corpus, tiny_tokenizer, train_tiny_sae  # noqa: E402

LAYER = 1


def windows(model, corpus: list[str], context: int, tokens: int) -> list[list[int]]:
    stream = model.to_tokens("\n".join(corpus))[:tokens]
    return [stream[i : i + context] for i in range(0, len(stream) - context + 1, context)]


def measure(model, corpus: list[str], units: int, tokens: int) -> dict:
    config = N2GConfig(augment_model=None, n_substitutes=0)
    chosen = list(range(units))
    model.stats.reset()
    t0 = time.perf_counter()
    mined = mine(model, [LAYER], list(range(model.d_mlp)), windows(model, corpus, 64, tokens), MiningOptions(batch_size=32))
    mine_s = time.perf_counter() - t0
    mine_tokens = model.stats.padded_tokens
    examples = {n: mined.examples(LAYER, n, model.to_str_tokens) for n in chosen}
    model.stats.reset()
    t0 = time.perf_counter()
    results = extract_neurons(model, LAYER, chosen, examples, mined.max_activations(LAYER, chosen), config)
    extract_s = time.perf_counter() - t0
    live = sum(r.status != "dead" for r in results)
    s = model.stats
    return {
        "units": units,
        "live": live,
        "ok": sum(r.status == "ok" for r in results),
        "forward_calls_per_unit": s.forward_calls / units,
        "padded_tokens_per_unit": s.padded_tokens / units,
        "real_tokens_per_unit": s.real_tokens / units,
        "requested_tokens_per_unit": s.requested_tokens / units,
        "padded_per_requested": s.padded_tokens / max(1, s.requested_tokens),
        "padded_tokens_per_live_unit": s.padded_tokens / max(1, live),
        "mining_tokens_per_unit": mine_tokens / model.d_mlp,
        "mine_s": mine_s,
        "extract_s": extract_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=30_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    corpus = synthetic_corpus(3000, seed=3)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tok = tiny_tokenizer(vocab_size=1000, n_sentences=2000)
        gpt2_dir = build_tiny_gpt2(Path(tmp) / "gpt2", n_layers=2, d_model=64, d_mlp=256, corpus=synthetic_corpus(2000))
        llama_dir = build_tiny_causal_lm(
            Path(tmp) / "llama", "llama", tok, hidden_size=64, intermediate_size=256, max_position_embeddings=128
        )
        gpt2 = load_model(str(gpt2_dir), device="cpu")
        sae_dir = train_tiny_sae(gpt2, Path(tmp) / "sae", hook=f"blocks.{LAYER}.hook_resid_post", d_sae=256)
        tc_dir = train_tiny_sae(gpt2, Path(tmp) / "tc", hook=f"blocks.{LAYER}.ln2.hook_normalized", d_sae=256, architecture="transcoder")
        rows["GPT-2 MLP neurons"] = measure(gpt2, corpus, args.units, args.tokens)
        rows["Llama gated-MLP neurons"] = measure(load_model(str(llama_dir), device="cpu"), corpus, args.units, args.tokens)
        for label, directory in (("SAE latents (GPT-2 resid)", sae_dir), ("transcoder features (GPT-2)", tc_dir)):
            model = load_model(str(gpt2_dir), device="cpu")
            model.attach_sae(load_sae(str(directory)))
            rows[label] = measure(model, corpus, args.units, args.tokens)

    base = rows["GPT-2 MLP neurons"]
    print(f"{args.units} units of layer {LAYER} each, {args.tokens:,} corpus tokens mined, no masked LM, CPU")
    print(
        "unit kind                    live  forwards/unit  asked tok/unit  padded tok/unit  vs GPT-2  "
        "padded/asked  mining tok/unit"
    )
    for label, r in rows.items():
        ratio = r["padded_tokens_per_live_unit"] / max(1e-9, base["padded_tokens_per_live_unit"])
        print(
            f"{label:<28} {r['live']:>4}  {r['forward_calls_per_unit']:>13.2f}  {r['requested_tokens_per_unit']:>14,.0f}  "
            f"{r['padded_tokens_per_unit']:>15,.0f}  {ratio:>8.2f}  {r['padded_per_requested']:>12.2f}  "
            f"{r['mining_tokens_per_unit']:>15,.1f}"
        )
    print(
        "asked = the tokens N2G's prune/saliency steps request (they grow with a unit's context length and number of "
        "firing tokens); padded/asked = what the batched pipeline feeds the model per token asked (merging identical "
        "sequences, padding); mining = one shared pass for every unit of the layer."
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
