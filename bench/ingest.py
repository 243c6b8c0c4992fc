"""Ingest throughput: both write paths, bytes on disk, and whole-pipeline neurons per second.

    python bench/ingest.py [--neurons 256] [--bulk-neurons 7000] [--trie-nodes 150] [--pipeline-neurons 64] [--json out.json]

0. Bulk build (managed Neo4j only): `--bulk-neurons` synthetic neurons (same shape as
   below; 7,000 x 150 = 1.05M trie nodes) built into a throwaway managed Neo4j of its own
   with neo4j-admin import (`n2g_kb.kb.bulk`): nodes + relationships per second end to end
   (CSV writing, import, database swap and restart, index build), then the store's bytes
   per trie node after a checkpoint (the server is stopped: Neo4j checkpoints on a clean
   shutdown), with and without the string store, which holds the examples (each neuron's
   Examples node: its tokens as one JSON string and its activations as one base64 string,
   n2g_kb.kb.store.pack_examples) and little else (pattern keys past 27 characters).

1. Store (after one untimed warm-up chunk): synthetic neuron graphs (a trie of about `--trie-nodes` nodes, summary edges
   and 20 examples of 64 tokens each, the paper's shape) are written with
   `Store.write_neurons` in chunks of `--chunk` neurons, first into an empty database,
   then again over themselves (re-ingest = atomic replace). Reported: trie nodes + their
   relationships per second, and all graph elements (nodes + relationships) per second.
2. Pipeline: `run_ingest` on a tiny GPT-2 built in-process (random weights) and a
   synthetic corpus, all stages included (load, mining, extraction, writes), with
   augmentation off and with a tiny masked LM. Reported: neurons per second.

Neo4j: a throwaway managed Neo4j 5.26 in a temporary directory on free ports (the
user's knowledge base is never touched), or the one at NEO4J_URI when set, whose
database is then WIPED first: point it at a throwaway database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from n2g_kb.n2g.results import Example, NeuronResult  # noqa: E402

_WORDS = ["paris", "london", " the", " of", ",", " cat", " 2019", "ĠParis", "new\nline", "it's", " in", " on"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def neo4j_store(workdir: Path):
    """A Store on an empty database: a throwaway managed server, or NEO4J_URI (wiped)."""
    from n2g_kb.kb.db import connect
    from n2g_kb.settings import ConnectionSettings, LocalServerSettings, cache_dir
    from n2g_kb.kb.store import Store

    server = None
    if os.environ.get("NEO4J_URI"):
        settings = ConnectionSettings(
            uri=os.environ["NEO4J_URI"],
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD"),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
    else:
        from n2g_kb.kb.localdb import LocalNeo4j

        local = LocalServerSettings(
            cache_dir=cache_dir(),
            data_dir=workdir / "neo4j-home",
            bolt_port=_free_port(),
            http_port=_free_port(),
            heap=os.environ.get("N2GKB_NEO4J_HEAP", "1g"),
            pagecache=os.environ.get("N2GKB_NEO4J_PAGECACHE", "512m"),
        )
        server = LocalNeo4j(local)
        print("starting a throwaway Neo4j ...", file=sys.stderr)
        server.start()
        settings = server.connection("neo4j")
    driver = connect(settings, retry_s=60.0)
    try:
        store = Store(driver, settings.database, settings=settings)
        store.clear()
        store.init_schema()
        yield store
    finally:
        driver.close()
        if server is not None:
            server.stop()


def synthetic_result(model: str, layer: int, index: int, n_nodes: int, rng: random.Random) -> NeuronResult:
    """A neuron graph of the paper's shape: ~n_nodes trie nodes in a few firing-token
    branches of back-going chains, summary tokens, 10 train + 10 test examples."""
    rows = [dict(id=0, parent=None, kind="root", token=None, depth=0, activation=None, importance=None, end_activation=None)]
    firing: dict[str, float] = {}
    context: dict[str, float] = {}
    while len(rows) < n_nodes:
        token = f"{rng.choice(_WORDS)}{rng.randrange(50)}"
        act = rng.uniform(0.5, 1.0)
        firing[token] = max(firing.get(token, 0.0), act)
        parent = len(rows)
        rows.append(dict(id=parent, parent=0, kind="token", token=token, depth=1, activation=act, importance=None, end_activation=None))
        for depth in range(2, 2 + rng.randrange(1, 8)):
            if len(rows) >= n_nodes:
                break
            ignore = rng.random() < 0.3
            tok = "<IGNORE>" if ignore else f"{rng.choice(_WORDS)}{rng.randrange(200)}"
            imp = None if ignore else rng.uniform(0.75, 1.0)
            if not ignore:
                context[tok] = max(context.get(tok, 0.0), imp)
            node = len(rows)
            rows.append(dict(id=node, parent=parent, kind="ignore" if ignore else "token", token=tok, depth=depth,
                             activation=None, importance=imp, end_activation=None))
            parent = node
        rows[parent]["end_activation"] = act
    examples = [
        Example(tokens=[rng.choice(_WORDS) for _ in range(64)], activations=[rng.uniform(-0.2, 3.0) for _ in range(64)],
                split="train" if i < 10 else "test")
        for i in range(20)
    ]
    return NeuronResult(model=model, layer=layer, index=index, max_activation=3.0, trie_nodes=rows,
                        firing_tokens=firing, context_tokens=context, examples=examples,
                        metrics={"f1": 0.5, "precision": 0.5, "recall": 0.5})


def bench_store(store, n_neurons: int, n_nodes: int, chunk: int) -> dict:
    rng = random.Random(0)
    results = [synthetic_result("bench", i // 3072, i % 3072, n_nodes, rng) for i in range(n_neurons)]
    trie_nodes = sum(len(r.trie_nodes) for r in results)
    trie_elements = 2 * trie_nodes  # each trie node + its incoming NEXT / HAS_TRIE edge
    out = {"neurons": n_neurons, "chunk": chunk, "trie_nodes": trie_nodes}
    # warm-up (not timed): the server compiles the write statement and its JIT warms up, as
    # on a server in use (an ingest writes thousands of neurons): three times as many
    # neurons as are timed, each written and then replaced; then the database is emptied
    # again. One chunk of warm-up left the JVM cold (the timed phases ran at 13-19k
    # elements/s one time, 23-27k the next), and writes kept getting faster over the first
    # ~2,000 neurons (256 neurons replaced at 20k, 29k, then 35k graph elements/s)
    warm_rng = random.Random(2)
    warm = [synthetic_result("warmup", 0, i, n_nodes, warm_rng) for i in range(n_neurons)]
    for _ in range(3):
        for _ in range(2):
            for i in range(0, n_neurons, chunk):
                store.write_neurons("warmup", warm[i : i + chunk])
        store.clear()
    for phase in ("fresh", "replace"):
        before = store.counts()
        start = time.perf_counter()
        for i in range(0, n_neurons, chunk):
            store.write_neurons("bench", results[i : i + chunk])
        seconds = time.perf_counter() - start
        after = store.counts()
        elements = after["nodes"] + after["relationships"]
        created = elements if phase == "replace" else elements - before["nodes"] - before["relationships"]
        out[phase] = {
            "seconds": round(seconds, 3),
            "trie_nodes_plus_relationships_per_s": round(trie_elements / seconds),
            "graph_elements": created,
            "graph_elements_per_s": round(created / seconds),
            "neurons_per_s": round(n_neurons / seconds, 1),
        }
    return out


def bench_bulk(workdir: Path, n_neurons: int, n_nodes: int) -> dict | None:
    """Bulk-builds `n_neurons` synthetic neurons into a throwaway managed Neo4j of its own
    (the bulk build needs an empty managed server); returns throughput and bytes per trie node."""
    if os.environ.get("NEO4J_URI") or n_neurons <= 0:
        return None
    from n2g_kb.kb.bulk import bulk_build
    from n2g_kb.kb.db import connect
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.kb.store import Store
    from n2g_kb.settings import LocalServerSettings, cache_dir

    rng = random.Random(1)
    results = [synthetic_result("bulk", i // 3072, i % 3072, n_nodes, rng) for i in range(n_neurons)]  # not timed
    server = LocalNeo4j(LocalServerSettings(
        cache_dir=cache_dir(), data_dir=workdir / "bulk-home", bolt_port=_free_port(), http_port=_free_port(),
        heap=os.environ.get("N2GKB_NEO4J_HEAP", "1g"), pagecache=os.environ.get("N2GKB_NEO4J_PAGECACHE", "512m"),
    ))
    print(f"bulk build of {n_neurons:,} neurons into a throwaway Neo4j ...", file=sys.stderr)
    server.start()
    settings = server.connection("neo4j")
    store = Store(connect(settings, retry_s=60.0), "neo4j", settings=settings)
    try:
        stats = bulk_build(server, store, {"bulk": {"n_layers": 2, "d_mlp": 3072}}, results)
    finally:
        store.driver.close()
        server.stop()  # Neo4j Community checkpoints on a clean shutdown
    del results
    data = server.home / "data"

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0

    store_dir = data / "databases" / "neo4j"
    store_bytes = size(store_dir)
    # the examples' two strings (20 examples of 64 tokens per neuron) are nearly all of the
    # string store; the array store holds the Neurons' arrays (and the examples' splits/lengths)
    strings_file = store_dir / "neostore.propertystore.db.strings"
    strings = strings_file.stat().st_size if strings_file.is_file() else 0
    arrays_file = store_dir / "neostore.propertystore.db.arrays"
    arrays = arrays_file.stat().st_size if arrays_file.is_file() else 0
    return {
        "neurons": stats.neurons, "trie_nodes": stats.trie_nodes, "nodes": stats.nodes, "relationships": stats.relationships,
        "seconds": {"csv": round(stats.csv_seconds, 2), "import": round(stats.import_seconds, 2),
                    "swap_restart": round(stats.swap_seconds, 2), "indexes": round(stats.index_seconds, 2),
                    "total": round(stats.seconds, 2)},
        "nodes_plus_relationships_per_s": round(stats.elements_per_s),
        "store_bytes": store_bytes, "string_store_bytes": strings, "array_store_bytes": arrays,
        "tx_log_bytes": size(data / "transactions" / "neo4j"),
        "store_bytes_per_trie_node_with_examples": round(store_bytes / stats.trie_nodes, 1),
        "store_bytes_per_trie_node_without_examples": round((store_bytes - strings) / stats.trie_nodes, 1),
    }


def bench_pipeline(store, workdir: Path, n_neurons: int, layers: str, augment: bool) -> dict:
    from n2g_kb.runners.ingest import IngestOptions, run_ingest
    from n2g_kb.lm.model import load_model
    from n2g_kb.testing import build_tiny_gpt2, build_tiny_masked_lm, synthetic_corpus

    model_dir = workdir / "tiny-gpt2"
    if not model_dir.exists():
        build_tiny_gpt2(model_dir)
    corpus = workdir / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n\n".join(synthetic_corpus(3000, seed=1)), encoding="utf-8")
    augmenter = str(build_tiny_masked_lm(workdir / "tiny-mlm")) if augment else None
    model = load_model(str(model_dir))
    options = IngestOptions(
        model=str(model_dir),
        layers=layers,
        neurons=f"0-{n_neurons - 1}",
        corpus=str(corpus),
        augmenter=augmenter,
        name=f"bench-{'aug' if augment else 'noaug'}",
        chunk_size=64,
    )
    summary = run_ingest(store, options, load_model=lambda *a, **k: model, runs_dir=workdir / "runs")
    pipeline_s = summary.seconds - summary.timings.get("load_s", 0.0)
    return {
        "model": f"tiny GPT-2 ({model.n_layers} layers x {model.d_mlp} neurons, random weights)",
        "device": str(model.device),
        "augmenter": "tiny DistilBERT" if augment else "none",
        "neurons": summary.processed,
        "status": {"ok": summary.written, "dead": summary.dead, "failed": summary.failed},
        "tokens_mined": summary.tokens_mined,
        "timings_s": summary.timings,
        "seconds_without_model_load": round(pipeline_s, 3),
        "neurons_per_s": round(summary.processed / pipeline_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=256, help="synthetic neurons written in the store bench")
    parser.add_argument("--bulk-neurons", type=int, default=7000, help="synthetic neurons bulk-built (0: skip)")
    parser.add_argument("--trie-nodes", type=int, default=150, help="trie nodes per synthetic neuron")
    parser.add_argument("--chunk", type=int, default=64, help="neurons per write transaction")
    parser.add_argument("--pipeline-neurons", type=int, default=64, help="neurons per layer in the pipeline bench (0: skip)")
    parser.add_argument("--layers", default="0-1", help="layers of the tiny model in the pipeline bench")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory(prefix="n2gkb-bench-") as tmp:
        workdir = Path(tmp)
        with neo4j_store(workdir) as store:
            report = {
                "machine": {"python": platform.python_version(), "torch": torch.__version__,
                            "cpu_threads": torch.get_num_threads(), "neo4j": store.server_version()},
                "bulk": bench_bulk(workdir, args.bulk_neurons, args.trie_nodes),
                "store": bench_store(store, args.neurons, args.trie_nodes, args.chunk),
                "pipeline_no_augmentation": bench_pipeline(store, workdir, args.pipeline_neurons, args.layers, augment=False)
                if args.pipeline_neurons else None,
                "pipeline_with_augmentation": bench_pipeline(store, workdir, args.pipeline_neurons, args.layers, augment=True)
                if args.pipeline_neurons else None,
            }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    targets = []
    b = report["bulk"]
    if b is not None:
        targets.append(("bulk build, nodes+relationships/s end to end", b["nodes_plus_relationships_per_s"], ">=", 50_000))
    s = report["store"]
    targets.append(("Bolt writes (fresh), graph elements/s", s["fresh"]["graph_elements_per_s"], ">=", 20_000))
    targets.append(("Bolt writes (replacing), graph elements/s", s["replace"]["graph_elements_per_s"], ">=", 20_000))
    print("\n| target | measured | goal | met |\n|---|---:|---:|---|")
    for label, value, op, goal in targets:
        met = value >= goal if op == ">=" else value <= goal
        print(f"| {label} | {value:,} | {op} {goal:,} | {'met' if met else 'NOT MET'} |")
    if b is not None:
        value = b["store_bytes_per_trie_node_without_examples"]
        print(f"| store bytes per trie node after a checkpoint (the string store, nearly all examples, left out) | {value:,} | <= 300 | "
              f"{'met' if value <= 300 else 'NOT MET'} |")
        print(f"| store bytes per trie node after a checkpoint, with 20 examples of 64 tokens per neuron | "
              f"{b['store_bytes_per_trie_node_with_examples']:,} | | |")
    print(
        f"\nNeo4j writes: {s['fresh']['trie_nodes_plus_relationships_per_s']:,} trie nodes+relationships/s "
        f"({s['fresh']['graph_elements_per_s']:,} graph elements/s) fresh, "
        f"{s['replace']['trie_nodes_plus_relationships_per_s']:,}/s replacing"
        + (f"; pipeline: {report['pipeline_no_augmentation']['neurons_per_s']} neurons/s without augmentation, "
           f"{report['pipeline_with_augmentation']['neurons_per_s']} with" if args.pipeline_neurons else ""),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
