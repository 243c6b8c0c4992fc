"""Query latency on a knowledge base of at least a million trie nodes.

    python bench/query.py [--nodes 1000000] [--runs 100] [--seed 0] [--json OUT]

Builds (once) a synthetic model of N2G-shaped neurons: per neuron a few firing tokens,
each with patterns of up to five context tokens and wildcards drawn from a Zipf-like
vocabulary (so common tokens are shared by many neurons, as in real models), wildcards
merged as N2G does. Into an empty managed Neo4j it is bulk-built with neo4j-admin import
(`n2g_kb.kb.bulk`); elsewhere it is written with the ingest's own Bolt writes. A marker
node records the finished build so later runs reuse it.

Then every query of cypher/query/ runs --runs times with parameters drawn with a fixed
seed from the stored patterns (the queries that take $limit ask for the top 50), with
the commonest firing token and the commonest (firing token, context token) pair as cases
of their own; printed per case: p50 / p95 latency (one `Store.read`: round trip and all
rows), rows and PROFILE db hits. Fire-on-text on 100 tokens runs in Cypher and through
the in-memory matcher (`n2g_kb.kb.query.fire`, warm), and similar also through
`n2g_kb.kb.query.similar` (its default in-memory index, warm: what `n2gkb search similar`
answers with; the target applies there, the Cypher file's figure is shown for Neo4j Browser
users). The targets of issue #10 are
printed as met / not met, and the store's bytes per trie node after a checkpoint.

Use a dedicated managed Neo4j so the user's knowledge base is untouched, e.g.

    N2GKB_DATA_DIR=/tmp/n2gkb-bench N2GKB_BOLT_PORT=7698 N2GKB_HTTP_PORT=7485 \\
    N2GKB_NEO4J_HEAP=2g N2GKB_NEO4J_PAGECACHE=2g python bench/query.py --json query.json

or point NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD at a throwaway database.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from n2g_kb.kb import query  # noqa: E402
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


def synthetic_results(target_nodes: int, seed: int) -> Iterator[NeuronResult]:
    for batch in synthetic_batches(target_nodes, seed, 10_000):
        yield from batch


def managed_server():
    """The managed local server when the bench runs against it (no NEO4J_URI), else None."""
    if os.environ.get("NEO4J_URI"):
        return None
    from n2g_kb.kb.localdb import LocalNeo4j
    from n2g_kb.settings import LocalServerSettings

    return LocalNeo4j(LocalServerSettings.from_env())


def build(store, server, target_nodes: int, seed: int, batch_nodes: int) -> dict[str, Any]:
    marker = store.read("bench/marker_get", name=MARKER)
    if marker and marker[0]["marker"].get("trie_nodes", 0) >= target_nodes and marker[0]["marker"].get("seed") == seed:
        props = marker[0]["marker"]
        print(f"Reusing the synthetic knowledge base: {props['trie_nodes']:,} trie nodes, {props['neurons']:,} neurons")
        store.init_schema()  # indexes added since it was built (idempotent)
        return props
    model_props = {"n_layers": N_LAYERS, "d_mlp": 4096, "hook": "synthetic"}
    start = time.perf_counter()
    if server is not None and store.counts()["nodes"] == 0:
        from n2g_kb.kb.bulk import bulk_build

        print(f"Bulk-building a synthetic knowledge base of >= {target_nodes:,} trie nodes (model {MODEL!r}, seed {seed}) ...")
        stats = bulk_build(server, store, {MODEL: model_props}, synthetic_results(target_nodes, seed), on_status=print)
        nodes, neurons, path = stats.trie_nodes, stats.neurons, "bulk (neo4j-admin import)"
        print(f"  {stats.nodes + stats.relationships:,} nodes+relationships in {stats.seconds:.0f} s "
              f"(CSV {stats.csv_seconds:.0f} s, import {stats.import_seconds:.0f} s, swap {stats.swap_seconds:.0f} s, "
              f"indexes {stats.index_seconds:.0f} s): {stats.elements_per_s:,.0f}/s")
    else:
        print(f"Writing a synthetic knowledge base of >= {target_nodes:,} trie nodes over Bolt (model {MODEL!r}, seed {seed}) ...")
        store.init_schema()
        store.upsert_model(MODEL, **model_props)
        nodes = neurons = 0
        for batch in synthetic_batches(target_nodes, seed, batch_nodes):
            store.write_neurons(MODEL, batch)
            nodes += sum(len(r.trie_nodes) for r in batch)
            neurons += len(batch)
            elapsed = time.perf_counter() - start
            print(f"  {nodes:>10,} trie nodes  {neurons:>7,} neurons  {elapsed:6.0f} s  ({nodes / elapsed:,.0f} nodes/s)", flush=True)
        path = "Bolt (UNWIND batches)"
    seconds = time.perf_counter() - start
    common = store.read("bench/commonest", model=MODEL)[0]
    props = {
        "model": MODEL, "seed": seed, "target_nodes": target_nodes, "trie_nodes": nodes, "neurons": neurons,
        "seconds": round(seconds, 1), "path": path, **common,
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


def db_hits(plan: dict) -> int:
    return int(plan.get("dbHits", 0)) + sum(db_hits(c) for c in plan.get("children", []))


def profile(store, name: str, params: dict) -> int:
    from n2g_kb.kb import cypher

    with store.driver.session(database=store.database) as session:
        result = session.run("PROFILE " + cypher.load(name), params)
        list(result)
        return db_hits(result.consume().profile)


def text_from(samples: list[dict], rng: random.Random, vocab: list[str], length: int) -> list[str]:
    """A token list ending in a stored pattern's context and firing token, padded in front."""
    s = rng.choice(samples)
    tail = [s["context"], *[rng.choice(vocab) for _ in range(s["distance"] - 1)], s["token"]]
    return [rng.choice(vocab) for _ in range(max(0, length - len(tail)))] + tail


def long_text(samples: list[dict], rng: random.Random, vocab: list[str], length: int) -> list[str]:
    """`length` tokens made of stored patterns' tails one after another."""
    out: list[str] = []
    while len(out) < length:
        out.extend(text_from(samples, rng, vocab, 6))
    return out[:length]


TARGETS = {  # case label -> p95 ms
    "fires_on, top 50 (random token)": 20, "fires_on, top 50 (commonest token)": 20,
    "context, top 50 (random pair)": 20, "context, top 50 (commonest pair)": 20,
    "context, top 50 (at a given distance)": 20, "last_token, top 50 (12-token text)": 20,
    # similar: what `n2gkb search similar` and query.similar answer with (their default
    # engine, an in-memory index of the stored token sets, as fire's fast path); the Cypher
    # file's figure is printed for Neo4j Browser users, without a target of its own
    "similar, query.similar (its in-memory engine, warm; one neuron, threshold 0.2)": 50,
    "supersets (one neuron)": 50, "polysemantic (one layer)": 50,
    "top_neurons (f1, all layers)": 50,
    "fire, Cypher (100-token text)": 1000, "fire, in-memory matcher, warm (100-token text)": 50,
}


WARM_UP = 10
"""Warm-up runs per case before timing (2 for the cases timed fewer times)."""


def benchmark(store, props: dict, runs: int, seed: int, only: str | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed + 1)
    keys = sorted({(i % N_LAYERS, i // N_LAYERS) for i in (rng.randrange(props["neurons"]) for _ in range(max(100, runs * 2)))})
    samples = store.read("bench/neuron_patterns", model=MODEL, keys=[list(k) for k in keys])
    vocab = sorted({s["token"] for s in samples} | {s["context"] for s in samples})
    scope = {"model": MODEL, "layer": None}
    top = {"limit": 50}

    def pick() -> dict:
        return rng.choice(samples)

    def one_neuron(**extra: Any) -> Callable[[], dict]:
        return lambda: {"model": MODEL, "layer": pick()["layer"], "neuron": pick()["neuron"], **extra}

    def one_layer(**extra: Any) -> Callable[[], dict]:
        return lambda: {"model": MODEL, "layer": rng.randrange(N_LAYERS), **extra}

    def with_distance() -> dict:
        s = pick()
        return {"token": s["token"], "context": [s["context"]], "distance": s["distance"], **scope, **top}

    common_token = {"token": props["token"], **scope, **top}
    common_pair = {"token": props["pair_token"], "context": [props["pair_context"]], "distance": None, **scope, **top}
    few = max(5, runs // 3)
    cases: list[tuple[str, str, Callable[[], dict], int]] = [
        ("fires_on, top 50 (random token)", "query/fires_on", lambda: {"token": pick()["token"], **scope, **top}, runs),
        ("fires_on, top 50 (commonest token)", "query/fires_on", lambda: common_token, runs),
        ("fires_on, all rows (commonest token)", "query/fires_on", lambda: {**common_token, "limit": None}, few),
        ("context, top 50 (random pair)", "query/context",
         lambda: (lambda s: {"token": s["token"], "context": [s["context"]], "distance": None, **scope, **top})(pick()), runs),
        ("context, top 50 (commonest pair)", "query/context", lambda: common_pair, runs),
        ("context, top 50 (at a given distance)", "query/context", with_distance, runs),
        ("context_loose (token sets)", "query/context_loose",
         lambda: (lambda s: {"token": s["token"], "context": [s["context"]], **scope})(pick()), runs),
        ("last_token, top 50 (12-token text)", "query/last_token",
         lambda: {"tokens": text_from(samples, rng, vocab, 12), "min_activation": 0.5, **scope, **top}, runs),
        ("fire, Cypher (24-token text)", "query/fire",
         lambda: {"tokens": text_from(samples, rng, vocab, 24), "min_activation": 0.5, **scope}, few),
        ("fire, Cypher (100-token text)", "query/fire",
         lambda: {"tokens": long_text(samples, rng, vocab, 100), "min_activation": 0.5, **scope}, few),
        ("fire_candidates (24-token text)", "query/fire_candidates", lambda: {"tokens": text_from(samples, rng, vocab, 24), **scope}, few),
        ("similar, Cypher in Neo4j Browser (one neuron, threshold 0.2)", "query/similar", one_neuron(threshold=0.2, cross_layer_only=False, limit=50), runs),
        ("supersets (one neuron)", "query/supersets", one_neuron(cross_layer_only=False, limit=50), runs),
        ("polysemantic (one layer)", "query/polysemantic", one_layer(min_groups=2, limit=50), runs),
        ("repetition (one layer)", "query/repetition", one_layer(same_pattern=False, limit=50), runs),
        ("top_neurons (f1, all layers)", "query/top_neurons", lambda: {"metric": "f1", **scope, "limit": 20}, runs),
        ("top_neurons (precision, all layers)", "query/top_neurons", lambda: {"metric": "precision", **scope, "limit": 20}, few),
        ("layer_summary", "query/layer_summary", lambda: {"model": MODEL}, few),
        ("models", "query/models", dict, few),
        ("neuron_graph (one neuron)", "query/neuron_graph", one_neuron(), runs),
    ]
    results = []
    cases = [c for c in cases if only is None or only in c[0]]
    for label, name, params, n in cases:
        # warm-up runs (their own parameters): the server compiles the plan and the JIT warms up,
        # as on a server in use; the slow cases (fewer runs) get two
        warm = WARM_UP if n == runs else 2
        drawn = [params() for _ in range(n + warm)]
        times, sizes = [], []
        for i, p in enumerate(drawn):
            # the client's cyclic garbage collector is off while a query runs (as timeit
            # does): the figure is the query's round trip, not a collection of this
            # process's garbage that happens to fall into it (with it on, 200 runs of
            # fires_on gave p95 13.9 / 9.7 ms, off 8.8 / 8.1)
            gc.disable()
            try:
                start = time.perf_counter()
                rows = store.read(name, **p)
                elapsed = (time.perf_counter() - start) * 1000.0
            finally:
                gc.enable()
            if i >= warm:
                times.append(elapsed)
                sizes.append(len(rows))
        hits = [profile(store, name, p) for p in drawn[warm:warm + 3]]
        results.append(summary(label, times, sizes, statistics.median(hits)))

    if only is None or only in "similar, query.similar (its in-memory engine, warm; one neuron, threshold 0.2)":
        results.append(memory_similar(store, pick, runs))
    if only is not None and only not in "fire, in-memory matcher, warm (100-token text)":
        return results
    # the in-memory matcher: build (or load), then warm calls through the Python helper
    from n2g_kb.kb import matcher as matcher_module

    matcher_module._MEMORY.clear()
    start = time.perf_counter()
    m = matcher_module.load_matcher(store, MODEL)
    load_ms = (time.perf_counter() - start) * 1000.0
    texts = [long_text(samples, rng, vocab, 100) for _ in range(runs + 2)]
    times, sizes = [], []
    for i, tokens in enumerate(texts):
        start = time.perf_counter()
        frame = query.fire(store, tokens, model=MODEL, min_activation=0.5)
        elapsed = (time.perf_counter() - start) * 1000.0
        if i >= 2:
            times.append(elapsed)
            sizes.append(len(frame))
    results.append(summary("fire, in-memory matcher, warm (100-token text)", times, sizes, None,
                           note=f"first load {load_ms:.0f} ms ({len(m):,} patterns)"))
    cypher_rows = query.fire_rows(store.read("query/fire", tokens=texts[2], min_activation=0.5, **scope), texts[2])
    frame = query.fire(store, texts[2], model=MODEL, min_activation=0.5)
    same = [(r["position"], r["layer"], r["neuron"], r["activation"], r["pattern"]) for r in cypher_rows] == [
        (r.position, r.layer, r.neuron, r.activation, r.pattern) for r in frame.itertuples()]  # fmt: skip
    results[-1]["note"] += f"; rows equal to Cypher's on a 100-token text: {same}"
    return results


def memory_similar(store, pick: Callable[[], dict], runs: int) -> dict[str, Any]:
    """query.similar through the in-memory token-set index (built or loaded first), warm,
    on the Cypher case's parameters; notes whether the rows equal Cypher's."""
    from n2g_kb.kb import similarity as similarity_module

    similarity_module._MEMORY.clear()
    start = time.perf_counter()
    index = similarity_module.load_token_sets(store, MODEL)
    load_ms = (time.perf_counter() - start) * 1000.0
    drawn = [dict(layer=pick()["layer"], neuron=pick()["neuron"]) for _ in range(runs + WARM_UP)]
    times, sizes = [], []
    for i, p in enumerate(drawn):
        start = time.perf_counter()
        frame = query.similar(store, model=MODEL, threshold=0.2, limit=50, **p)
        elapsed = (time.perf_counter() - start) * 1000.0
        if i >= WARM_UP:
            times.append(elapsed)
            sizes.append(len(frame))
    same = all(
        query.similar(store, model=MODEL, threshold=0.2, limit=50, **p).astype(object).values.tolist()
        == query.similar(store, model=MODEL, threshold=0.2, limit=50, engine="cypher", **p).astype(object).values.tolist()
        for p in drawn[WARM_UP : WARM_UP + 5]
    )  # fmt: skip
    return summary("similar, query.similar (its in-memory engine, warm; one neuron, threshold 0.2)", times, sizes, None,
                   note=f"first load {load_ms:.0f} ms ({len(index):,} neurons); rows equal to Cypher's on 5 neurons: {same}")


def summary(label: str, times: list[float], sizes: list[int], hits: float | None, note: str = "") -> dict[str, Any]:
    row = {
        "case": label, "runs": len(times), "p50_ms": round(percentile(times, 0.5), 2),
        "p95_ms": round(percentile(times, 0.95), 2), "mean_rows": round(statistics.mean(sizes), 1),
        "db_hits": None if hits is None else int(hits), "note": note,
    }
    target = TARGETS.get(label)
    if target is not None:
        row["target_p95_ms"] = target
        row["met"] = row["p95_ms"] <= target
    print(f"  {label:<48} p50 {row['p50_ms']:8.1f} ms  p95 {row['p95_ms']:8.1f} ms  rows {row['mean_rows']:8.1f}"
          f"  db hits {row['db_hits'] if row['db_hits'] is not None else '-':>8}", flush=True)
    return row


def store_bytes(server, store) -> dict[str, Any] | None:
    """Bytes of the database's store files and transaction logs after a checkpoint (Neo4j
    Community checkpoints on a clean shutdown: the managed server is stopped and started)."""
    if server is None:
        return None
    server.stop()
    data = server.home / "data"

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0

    out = {"store_bytes": size(data / "databases" / "neo4j"), "tx_log_bytes": size(data / "transactions" / "neo4j")}
    server.start()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="Trie nodes to build (default 1,000,000).")
    parser.add_argument("--runs", type=int, default=100, help="Timed runs per query (default 100: a p95 of 100 runs is their 95th, where a p95 of 30 is the second slowest).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the synthetic model and of the parameters.")
    parser.add_argument("--batch-nodes", type=int, default=25_000, help="Trie nodes per Bolt write transaction.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument("--only", default=None, help="Only the cases whose label contains this text (e.g. 'context').")
    args = parser.parse_args(argv)

    from n2g_kb.kb.db import open_driver
    from n2g_kb.kb.store import Store
    from n2g_kb.settings import resolve

    settings = resolve()
    server = managed_server()
    with open_driver(settings, on_status=print) as (driver, resolved):
        store = Store(driver, resolved.database, settings=resolved)
        print(f"Neo4j: {resolved.describe()}, server {store.server_version()}")
        props = build(store, server, args.nodes, args.seed, args.batch_nodes)
        counts = store.counts()
        print(f"Database: {counts['nodes']:,} nodes, {counts['relationships']:,} relationships; "
              f"{props['trie_nodes']:,} trie nodes in {props['neurons']:,} neurons of {MODEL!r}; commonest token "
              f"{props['token']!r} ({props['token_neurons']:,} neurons), "
              f"commonest pair ({props['pair_token']!r}, {props['pair_context']!r}) in {props['pair_neurons']:,} neurons")
        start = time.perf_counter()
        warm = store.read("bench/warm")[0]
        print(f"Page cache warmed in {time.perf_counter() - start:.1f} s (every trie node, NEXT edge and query "
              f"index entry read once: {warm['nodes']:,} values)")  # fmt: skip
        print(f"Latency over {args.runs} runs per case (fixed seed {args.seed}, after {WARM_UP} warm-up runs; 2 for the slow cases):")
        results = benchmark(store, props, args.runs, args.seed, args.only)
        disk = store_bytes(server, store)
    print()
    print("| case | runs | p50 ms | p95 ms | mean rows | db hits | target p95 | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        target = f"<= {r['target_p95_ms']} ms" if "target_p95_ms" in r else ""
        met = ("met" if r["met"] else "NOT MET") if "met" in r else ""
        hits = "" if r["db_hits"] is None else f"{r['db_hits']:,}"
        print(f"| {r['case']} | {r['runs']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['mean_rows']:.1f} | {hits} | {target} | {met} |")
    report: dict[str, Any] = {"kb": {**props, **counts}, "cases": results}
    if disk is not None:
        per_node = disk["store_bytes"] / props["trie_nodes"]
        report["disk"] = {**disk, "store_bytes_per_trie_node": round(per_node, 1), "target": 300, "met": per_node <= 300}
        print(f"\nStore after a checkpoint: {disk['store_bytes']:,} bytes = {per_node:.0f} bytes per trie node "
              f"(target <= 300: {'met' if per_node <= 300 else 'NOT MET'}); transaction logs {disk['tx_log_bytes']:,} bytes")
    for r in results:
        if r.get("note"):
            print(f"{r['case']}: {r['note']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
