"""Query latency on a knowledge base of at least a million trie nodes.

Builds (once) a synthetic model of N2G-shaped neurons: per neuron a few firing tokens,
each with patterns of up to five context tokens and wildcards drawn from a Zipf-like
vocabulary (so common tokens are shared by many neurons, as in real models), wildcards
merged as N2G does. It is written with the ingest's own write statements (see
`write_batch`), and a marker node records the finished build so later runs reuse it.

Then every query of cypher/query/ runs --runs times with random parameters drawn from
the stored patterns, and the p50 / p95 latency of each is printed (one `Store.read`:
driver round trip and all rows), plus the `n2g_kb.kb.query.fire` helper with both engines
on a 24-token text.

Use a dedicated managed Neo4j so the user's knowledge base is untouched, e.g.

    N2GKB_DATA_DIR=/tmp/n2gkb-bench N2GKB_BOLT_PORT=7698 N2GKB_HTTP_PORT=7485 \\
    N2GKB_NEO4J_HEAP=2g N2GKB_NEO4J_PAGECACHE=2g python bench/query.py

or point NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD at a throwaway database.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from n2g_kb.kb import query
from n2g_kb.kb.fixtures import Pattern, trie_from_patterns
from n2g_kb.n2g.results import NeuronResult
from n2g_kb.n2g.trie import IGNORE

MODEL = "bench-synthetic"
MARKER = "query-bench"
N_LAYERS = 12


# ----------------------------------------------------------------------------- building


class Vocabulary:
    """Token texts with Zipf-like frequencies (rank r has weight 1 / r)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.tokens = [f"tok{r}" for r in range(size)]
        weights = [1.0 / (r + 1) for r in range(size)]
        total = 0.0
        self.cumulative = []
        for w in weights:
            total += w
            self.cumulative.append(total)
        self.rng = rng

    def draw(self, k: int = 1) -> list[str]:
        return self.rng.choices(self.tokens, cum_weights=self.cumulative, k=k)


def synthetic_neuron(layer: int, index: int, vocab: Vocabulary, rng: random.Random) -> NeuronResult:
    roll = rng.random()
    if roll < 0.03:
        return NeuronResult(MODEL, layer, index, max_activation=0.0, status="dead")
    if roll < 0.04:
        return NeuronResult(MODEL, layer, index, max_activation=1.0, status="failed", error="synthetic failure")
    patterns = []
    for firing in vocab.draw(rng.randint(2, 9)):
        for _ in range(rng.randint(2, 8)):
            length = rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5))
            context = [IGNORE if rng.random() < 0.3 else vocab.draw()[0] for _ in range(length)]
            while context and context[0] == IGNORE:
                context.pop(0)
            patterns.append(Pattern((*context, firing), round(rng.uniform(0.5, 1.0), 3)))
    trie = trie_from_patterns(patterns, importance=0.8)
    trie.merge_ignores()
    f1 = round(rng.betavariate(4, 3), 3)
    return NeuronResult(
        model=MODEL,
        layer=layer,
        index=index,
        max_activation=round(rng.uniform(0.5, 10.0), 3),
        trie_nodes=trie.to_rows(),
        firing_tokens=trie.firing_tokens(),
        context_tokens=trie.context_tokens(),
        metrics={"f1": f1, "precision": round(min(1.0, f1 + rng.uniform(0, 0.2)), 3), "recall": round(f1 * 0.9, 3)},
    )


def synthetic_batches(target_nodes: int, seed: int, batch_nodes: int) -> Iterator[list[NeuronResult]]:
    """Neurons (layer-major order within each index) until `target_nodes` trie nodes."""
    rng = random.Random(seed)
    vocab = Vocabulary(5000, rng)
    total, batch, batch_size, i = 0, [], 0, 0
    while total < target_nodes:
        result = synthetic_neuron(i % N_LAYERS, i // N_LAYERS, vocab, rng)
        i += 1
        total += len(result.trie_nodes)
        batch.append(result)
        batch_size += len(result.trie_nodes)
        if batch_size >= batch_nodes:
            yield batch
            batch, batch_size = [], 0
    if batch:
        yield batch


def write_batch(store, batch: list[NeuronResult]) -> None:
    """Writes neurons with the ingest's own write (one transaction per batch). A rebuild
    after an interrupted build rewrites the same neurons (same seed), replacing them."""
    store.write_neurons(MODEL, batch)


def build(store, target_nodes: int, seed: int, batch_nodes: int) -> dict[str, Any]:
    marker = store.read("bench/marker_get", name=MARKER)
    if marker and marker[0]["marker"].get("trie_nodes", 0) >= target_nodes and marker[0]["marker"].get("seed") == seed:
        props = marker[0]["marker"]
        print(f"Reusing the synthetic knowledge base: {props['trie_nodes']:,} trie nodes, {props['neurons']:,} neurons")
        return props
    print(f"Building a synthetic knowledge base of >= {target_nodes:,} trie nodes (model {MODEL!r}, seed {seed}) ...")
    store.init_schema()
    store.upsert_model(MODEL, n_layers=N_LAYERS, d_mlp=4096, hook="synthetic")
    start = time.perf_counter()
    nodes = neurons = 0
    for batch in synthetic_batches(target_nodes, seed, batch_nodes):
        write_batch(store, batch)
        nodes += sum(len(r.trie_nodes) for r in batch)
        neurons += len(batch)
        elapsed = time.perf_counter() - start
        rate = nodes / elapsed
        print(f"  {nodes:>10,} trie nodes  {neurons:>7,} neurons  {elapsed:6.0f} s  ({rate:,.0f} nodes/s)", flush=True)
    seconds = time.perf_counter() - start
    props = {
        "model": MODEL,
        "seed": seed,
        "target_nodes": target_nodes,
        "trie_nodes": nodes,
        "neurons": neurons,
        "seconds": round(seconds, 1),
    }
    store.write("bench/marker_set", name=MARKER, props=props)
    print(f"Built in {seconds:.0f} s")
    return props


# ------------------------------------------------------------------------------ timing


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(work: Callable[[], int], runs: int, warmup: int = 2) -> tuple[list[float], list[int]]:
    for _ in range(warmup):
        work()
    times, sizes = [], []
    for _ in range(runs):
        start = time.perf_counter()
        sizes.append(work())
        times.append((time.perf_counter() - start) * 1000.0)
    return times, sizes


def text_from(samples: list[dict], rng: random.Random, vocab: list[str], length: int) -> list[str]:
    """A token list ending in a stored pattern's context and firing token, padded in front."""
    s = rng.choice(samples)
    tail = [s["context"], *[rng.choice(vocab) for _ in range(s["distance"] - 1)], s["token"]]
    return [rng.choice(vocab) for _ in range(max(0, length - len(tail)))] + tail


def benchmark(store, runs: int, seed: int) -> list[tuple[str, list[float], list[int]]]:
    """Times every case; the two that ship tries to Python run `runs // 3` times."""
    rng = random.Random(seed + 1)
    samples = store.read("bench/sample_patterns", model=MODEL, n=max(200, runs * 4))
    vocab = sorted({s["token"] for s in samples} | {s["context"] for s in samples})
    scope = {"model": MODEL, "layer": None}

    def pattern() -> dict:
        return rng.choice(samples)

    def token() -> dict:
        return {"token": pattern()["token"], **scope}

    def in_context(with_distance: bool) -> Callable[[], dict]:
        def params() -> dict:
            s = pattern()
            return {"token": s["token"], "context": [s["context"]], "distance": s["distance"] if with_distance else None, **scope}

        return params

    def loose() -> dict:
        s = pattern()
        return {"token": s["token"], "context": [s["context"]], **scope}

    def text(length: int, **extra: Any) -> Callable[[], dict]:
        return lambda: {"tokens": text_from(samples, rng, vocab, length), **extra, **scope}

    def one_neuron(**extra: Any) -> Callable[[], dict]:
        def params() -> dict:
            s = pattern()
            return {"model": MODEL, "layer": s["layer"], "neuron": s["neuron"], **extra}

        return params

    def one_layer(**extra: Any) -> Callable[[], dict]:
        return lambda: {"model": MODEL, "layer": rng.randrange(N_LAYERS), **extra}

    def read(name: str, params: Callable[[], dict]) -> Callable[[], int]:
        return lambda: len(store.read(name, **params()))

    def helper_fire(engine: str) -> Callable[[], int]:
        return lambda: len(query.fire(store, text_from(samples, rng, vocab, 24), model=MODEL, engine=engine))

    few = max(3, runs // 3)  # the cases that ship tries to Python are slower on common tokens
    cases: list[tuple[str, Callable[[], int], int]] = [
        ("fires_on (token, all layers)", read("query/fires_on", token), runs),
        ("context (token + context, any distance)", read("query/context", in_context(False)), runs),
        ("context (at a given distance)", read("query/context", in_context(True)), runs),
        ("context_loose (token sets)", read("query/context_loose", loose), runs),
        ("last_token (12-token text)", read("query/last_token", text(12, min_activation=0.5)), runs),
        ("fire (24-token text, every position)", read("query/fire", text(24, min_activation=0.5)), runs),
        ("fire_candidates (24-token text)", read("query/fire_candidates", text(24)), few),
        (
            "similar (one neuron, threshold 0.2)",
            read("query/similar", one_neuron(threshold=0.2, cross_layer_only=False, limit=50)),
            runs,
        ),
        ("supersets (one neuron)", read("query/supersets", one_neuron(cross_layer_only=False, limit=50)), runs),
        ("polysemantic (one layer)", read("query/polysemantic", one_layer(min_groups=2, limit=50)), runs),
        ("repetition (one layer)", read("query/repetition", one_layer(same_pattern=False, limit=50)), runs),
        ("top_neurons (f1, all layers)", read("query/top_neurons", lambda: {"metric": "f1", **scope, "limit": 20}), runs),
        ("layer_summary", read("query/layer_summary", lambda: {"model": MODEL}), runs),
        ("models", read("query/models", dict), runs),
        ("neuron_graph (one neuron)", read("query/neuron_graph", one_neuron()), runs),
        ("fire helper, engine=cypher (24 tokens)", helper_fire("cypher"), runs),
        ("fire helper, engine=python (24 tokens)", helper_fire("python"), few),
    ]
    results = []
    for label, work, n in cases:
        times, sizes = timed(work, n, warmup=1 if n < runs else 2)
        results.append((label, times, sizes))
        print(f"  {label:<44} p50 {percentile(times, 0.5):8.1f} ms   p95 {percentile(times, 0.95):8.1f} ms", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="Trie nodes to build (default 1,000,000).")
    parser.add_argument("--runs", type=int, default=30, help="Timed runs per query (default 30).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-nodes", type=int, default=25_000, help="Trie nodes per write transaction.")
    args = parser.parse_args(argv)

    from n2g_kb.kb.db import open_driver
    from n2g_kb.settings import resolve
    from n2g_kb.kb.store import Store

    settings = resolve()
    with open_driver(settings, on_status=print) as (driver, resolved):
        store = Store(driver, resolved.database, settings=resolved)
        print(f"Neo4j: {resolved.describe()}, server {store.server_version()}")
        props = build(store, args.nodes, args.seed, args.batch_nodes)
        counts = store.counts()
        print(f"Database: {counts['nodes']:,} nodes, {counts['relationships']:,} relationships; "
              f"{props['trie_nodes']:,} trie nodes in {props['neurons']:,} neurons of {MODEL!r}")
        print(f"Latency over {args.runs} runs per query (random parameters, after 2 warm-up runs):")
        results = benchmark(store, args.runs, args.seed)
    print()
    print("| query | runs | p50 ms | p95 ms | mean rows |")
    print("|---|---:|---:|---:|---:|")
    for label, times, sizes in results:
        p50, p95, rows = percentile(times, 0.5), percentile(times, 0.95), statistics.mean(sizes)
        print(f"| {label} | {len(times)} | {p50:.1f} | {p95:.1f} | {rows:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
