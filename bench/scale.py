"""Scale-out: the same ingest in one process and on 1, 2 and 4 local Ray workers (CPU).

    python bench/scale.py [--workers 1,2,4] [--layers 0-1] [--neurons 0-63] [--d-mlp 256] [--json out.json]

A tiny GPT-2 (random weights, built in-process) and a synthetic corpus; augmentation off
unless `--augment` (a tiny masked LM). For each worker count, a local Ray with that many
logical CPUs is started, the knowledge base is emptied, and `run_ray_ingest` ingests every
chosen neuron: workers start and load the model, mine their corpus parts, the driver
merges them, workers extract and write their chunks. Reported per run: wall seconds of
the ingest (Ray's own start excluded, worker start included), neurons/s, speedup over one
worker, and whether the knowledge base equals the single-process one (status, examples
and trie rows of every neuron, floats within 1e-4).

Speedup is bounded by the machine's cores (printed): on a 2-core box, 4 workers share 2.
Neo4j: as bench/ingest.py (a throwaway managed server, or NEO4J_URI, WIPED).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import neo4j_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="Worker counts to run, comma-separated.")
    parser.add_argument("--layers", default="0-1")
    parser.add_argument("--neurons", default="0-63", help="Neurons of each layer.")
    parser.add_argument("--d-mlp", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=8, help="Neurons per task (one extraction call + one write).")
    parser.add_argument("--arch", default="gpt2", help="Tiny model architecture: gpt2 (trained) or a random one of "
                        "n2g_kb.testing.TINY_ARCHITECTURES (llama, gemma2, ...; --d-mlp is then ignored).")
    parser.add_argument("--augment", action="store_true", help="Augment with a tiny masked LM.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()

    import ray

    from n2g_kb.runners.ingest import IngestOptions, run_ingest
    from n2g_kb.runners.scale import RayOptions, run_ray_ingest
    from n2g_kb.selection import parse_ranges
    from n2g_kb.testing import build_tiny_causal_lm, build_tiny_gpt2, build_tiny_masked_lm, graph_differences, stored_graphs, synthetic_corpus

    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.arch == "gpt2":
            model_dir = build_tiny_gpt2(work / "tiny", corpus=synthetic_corpus(300), d_mlp=args.d_mlp)
        else:
            model_dir = build_tiny_causal_lm(work / "tiny", args.arch)
        corpus = work / "corpus.txt"
        corpus.write_text("\n\n".join(synthetic_corpus(600, seed=5)), encoding="utf-8")
        augmenter = str(build_tiny_masked_lm(work / "mlm")) if args.augment else None
        options = IngestOptions(model=str(model_dir), layers=args.layers, neurons=args.neurons, examples=10,
                                corpus=str(corpus), context=32, batch_size=16, augmenter=augmenter,
                                chunk_size=args.chunk, device="cpu")  # fmt: skip
        layers = list(parse_ranges(args.layers, "--layers"))
        neurons = list(parse_ranges(args.neurons, "--neurons"))
        n = len(layers) * len(neurons)
        out: dict = {"cpu_cores": os.cpu_count(), "load_average": os.getloadavg()[0], "neurons": n,
                     "arch": args.arch, "d_mlp": args.d_mlp, "chunk": args.chunk, "augment": args.augment, "runs": []}  # fmt: skip
        with neo4j_store(work) as store:
            start = time.perf_counter()
            single = run_ingest(store, options, runs_dir=work / "single")
            seconds = time.perf_counter() - start
            expected = stored_graphs(store, single.model, layers, neurons)
            out["single_process"] = {"seconds": round(seconds, 2), "neurons_per_s": round(n / seconds, 2)}
            print(f"{os.cpu_count()} CPU cores, load average {out['load_average']:.1f}; {n} neurons "
                  f"({args.layers} x {args.neurons}, tiny {args.arch}), chunks of {args.chunk}")  # fmt: skip
            print(f"single process          {seconds:7.1f} s  {n / seconds:6.2f} neurons/s")
            base = None
            for w in counts:
                store.clear()
                store.init_schema()
                ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
                try:
                    start = time.perf_counter()
                    summary = run_ray_ingest(store, options, store.settings, RayOptions(workers=w), runs_dir=work / f"ray{w}")
                    seconds = time.perf_counter() - start
                finally:
                    ray.shutdown()
                differences = graph_differences(stored_graphs(store, summary.model, layers, neurons), expected)
                base = base or seconds
                run = {"workers": w, "seconds": round(seconds, 2), "neurons_per_s": round(n / seconds, 2),
                       "speedup": round(base / seconds, 2), "workers_start_s": summary.timings.get("load_s"),
                       "mine_s": summary.timings.get("mine_s"), "identical_to_single_process": not differences,
                       "differences": differences[:5]}  # fmt: skip
                out["runs"].append(run)
                print(f"ray, {w} worker{'s' if w > 1 else ' '}          {seconds:7.1f} s  {n / seconds:6.2f} neurons/s  "
                      f"speedup {run['speedup']:.2f}x  (workers start {run['workers_start_s']:.1f} s, mining "
                      f"{run['mine_s']:.1f} s)  identical to single process: {'yes' if not differences else differences[:3]}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
