"""Bulk build: a fresh knowledge base through `neo4j-admin database import full`.

Neo4j Community imports only into a new, stopped database, so for the managed local
server (`n2g_kb.kb.localdb.LocalNeo4j`) whose database is still empty:

1. the graph is written as CSV files (the same values the Bolt write stores: both paths
   go through `n2g_kb.kb.store.neuron_params`, so the graph is the same either way);
2. `neo4j-admin database import full` builds the database in a staging data directory
   beside the server's, while the server keeps running;
3. the server is stopped, the staged store and transaction logs are moved into place
   (the empty ones are kept aside until the server is up again, and moved back if it
   does not start), the server is restarted, and the constraints and indexes of
   cypher/schema.cypher are created (Neo4j builds the indexes from the imported data).

Anything else (a knowledge base that already holds data, a user's own server) is written
over Bolt in batched UNWIND transactions (`Store.write_neurons`). `n2gkb ingest --bulk`
(`run_ingest(bulk=server)`) spools an ingest's neurons (`BulkSink`) and builds them in at
the end when the managed knowledge base is empty; the `Store` is handed a new driver after
the swap (the old one's bookmarks point past the new database's transactions).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2g_kb.errors import N2GKBError
from n2g_kb.kb.store import FORMAT, neuron_number, neuron_params
from n2g_kb.n2g.results import NeuronResult

ARRAY_DELIMITER = "\x1f"
DATABASE = "neo4j"


class BulkImportError(N2GKBError):
    """The bulk import could not run (nothing stored was changed)."""


@dataclass
class BulkStats:
    neurons: int = 0
    trie_nodes: int = 0
    nodes: int = 0
    relationships: int = 0
    csv_seconds: float = 0.0
    import_seconds: float = 0.0
    swap_seconds: float = 0.0
    index_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.csv_seconds + self.import_seconds + self.swap_seconds + self.index_seconds

    @property
    def elements_per_s(self) -> float:
        return (self.nodes + self.relationships) / self.seconds if self.seconds else 0.0


# ------------------------------------------------------------------------------- CSV

_STRUCTURE = {"nodes", "roots", "links", "firing", "context", "examples", "metrics", "derived", "props"}
"""Keys of a write/neurons row that are not Neuron properties themselves."""
TRIE_COLUMNS = {
    # the import packs a node's properties into 4-block property records in this order (a
    # double takes 2 blocks, a short string 1-4, an int below 2^35 1, so nid 1 for the first
    # models)
    "pkey": "string", "end_activation": "double", "nid": "long", "token": "string", "fire": "string",
    "rank": "double", "importance": "double", "activation": "double", "fire_rank": "double",
    "depth": "long", "parent": "long", "kind": "string",
    # (depth, parent, kind and a firing-token node's activation only where the readers could
    # not derive them, and no id: see store._slim)
}
EXAMPLES_COLUMNS = {
    # tokens and activations as one string each (store.pack_examples): neo4j-admin parses a
    # string[] of 1,280 tokens and a double[] of as many floats item by item, a string as is.
    # The JSON text holds double quotes: the csv module quotes such a cell and doubles them
    # ("" inside quotes), which is how neo4j-admin reads quotes by default (a backslash is
    # an ordinary character to both; JSON writes newlines and U+001F as escapes)
    "model": "string", "layer": "long", "neuron": "long", "splits": "string[]", "lengths": "long[]",
    "tokens_json": "string", "activations_f64": "string",
}


_AS_IS = {"string", "long", "double"}
"""Column types whose Python values (str, int, float, None) the csv module writes as Neo4j reads them."""


def _native(props: dict[str, Any]) -> dict[str, Any]:
    """Driver values as plain Python (Neo4j temporal values to datetime)."""
    return {k: (v.to_native() if hasattr(v, "to_native") else v) for k, v in props.items()}


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, (list, tuple)):
        inner = {_type(v) for v in value} or {"string"}
        if len(inner) > 1 and inner <= {"long", "double"}:
            inner = {"double"}
        if len(inner) != 1:
            raise BulkImportError(f"cannot bulk-import a list of mixed types {sorted(inner)}")
        return f"{inner.pop()}[]"
    return "string"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        parts = [_cell(v) for v in value]
        if any(ARRAY_DELIMITER in p for p in parts):
            raise BulkImportError("a token holds the character U+001F, which the bulk import uses between list items")
        return ARRAY_DELIMITER.join(parts)
    return str(value)


def _list_cell(kind: str) -> Callable[[Any], str | None]:
    """The cell writer of a typed list column: items joined with ARRAY_DELIMITER (an empty
    list is left unset); a text that holds the delimiter itself is refused."""
    item = {"double[]": repr, "long[]": str}.get(kind)

    def cell(value: Any) -> str | None:
        if not value:
            return None
        if item is not None:
            return ARRAY_DELIMITER.join(map(item, value))
        joined = ARRAY_DELIMITER.join(map(str, value))
        if joined.count(ARRAY_DELIMITER) != len(value) - 1:
            raise BulkImportError("a token holds the character U+001F, which the bulk import uses between list items")
        return joined

    return cell


def _header(fixed: Sequence[str], columns: dict[str, str]) -> list[str]:
    """The header cells of a CSV file: id / start / end columns, then `name:type` per property."""
    return [*fixed, *(f"{c}:{t}" for c, t in columns.items())]


class _Table:
    """One CSV file of nodes or relationships with a typed header. With `columns`
    (name -> type) rows stream straight to the file; without, columns grow as new
    properties appear and rows are kept until `close` (for the few Model / Neuron rows)."""

    def __init__(self, path: Path, fixed: Sequence[str], columns: dict[str, str] | None = None, header: bool = True) -> None:
        self.path = path
        self.fixed = list(fixed)  # header cells of the id / start / end / type columns
        self.types: dict[str, str] = dict(columns or {})
        self.rows: list[tuple[list[Any], dict[str, Any]]] = []
        self.count = 0
        self.stream = None
        if columns is not None:
            self.stream = open(path, "w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.stream, lineterminator="\n")
            if header:
                self.writer.writerow(_header(self.fixed, self.types))
            # the csv module writes None as an empty cell and numbers as str() (floats as
            # repr), so only list cells need converting
            self.names = list(self.types)
            self.lists = [(i, _list_cell(t)) for i, t in enumerate(self.types.values()) if t.endswith("[]")]
            self.plain = all(t in _AS_IS or t.endswith("[]") for t in self.types.values())

    def add(self, ids: list[Any], props: dict[str, Any]) -> None:
        if self.stream is not None:
            get = props.get
            if self.plain:
                cells = [*ids, *map(get, self.names)]
                for i, convert in self.lists:
                    cells[len(ids) + i] = convert(cells[len(ids) + i])
                self.writer.writerow(cells)
            else:
                cells = [_cell(get(c)) for c in self.names]
                self.writer.writerow(ids + cells)
            self.count += 1
            return
        for key, value in props.items():
            if value is None or (isinstance(value, (list, tuple)) and not value):
                continue
            kind = _type(value)
            known = self.types.get(key)
            if known is None:
                self.types[key] = kind
            elif known != kind:
                if {known, kind} <= {"long", "double"}:
                    self.types[key] = "double"
                elif {known, kind} <= {"long[]", "double[]"}:
                    self.types[key] = "double[]"
                else:
                    raise BulkImportError(f"property {key!r} has values of types {known} and {kind}")
        self.rows.append((ids, props))

    def close(self) -> int:
        if self.stream is not None:
            self.stream.close()
            return self.count
        columns = list(self.types)
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(self.fixed + [f"{c}:{self.types[c]}" for c in columns])
            for ids, props in self.rows:
                cells = []
                for c in columns:
                    value = props.get(c)
                    if value is not None and self.types[c] == "double" and isinstance(value, int):
                        value = float(value)
                    cells.append(_cell(value if not (isinstance(value, (list, tuple)) and not value) else None))
                out.writerow(ids + cells)
        n = len(self.rows)
        self.rows = []
        return n


_PARTED = {
    # the tables written in parts, one per chunk of neurons (in a worker process when the
    # import is large) without a header, then joined into one file with its header: label
    # or type -> file stem, id / start / end columns, property columns
    "TrieNode": ("trie_nodes", [":ID(TrieNode)"], TRIE_COLUMNS),
    "Examples": ("examples", [":ID(Examples)"], EXAMPLES_COLUMNS),
    "HAS_TRIE": ("has_trie", [":START_ID(Neuron)", ":END_ID(TrieNode)"], {}),
    "NEXT": ("next", [":START_ID(TrieNode)", ":END_ID(TrieNode)"], {}),
    "HAS_EXAMPLES": ("has_examples", [":START_ID(Neuron)", ":END_ID(Examples)"], {}),
}
_NODE_PARTS = ("TrieNode", "Examples")
CHUNK_NEURONS = 256
PARALLEL_MIN_NEURONS = 2_000
"""An import of at least this many neurons writes its trie and example files in worker
processes (one per CPU, at most 4; N2GKB_BULK_WORKERS sets the number, 1 turns it off)."""


def _part(job: tuple[Path, int, str, int, list[NeuronResult], int, int]) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    """Writes one chunk's trie nodes, NEXT / HAS_TRIE edges and Examples nodes into
    header-less part files `<stem>.p<k>.csv` (neuron import ids from `nid`, trie node ids from `first`; an Examples
    node has its neuron's id); returns the neuron rows without those (each with its
    neuron number), the chunk's wildcard shapes and the rows written per table. Runs in a
    worker process or inline."""
    directory, k, model, model_number, chosen, nid, first = job
    params = neuron_params(model, chosen)
    tables = {name: _Table(_part_path(directory, stem, k), fixed, columns, header=False)
              for name, (stem, fixed, columns) in _PARTED.items()}
    rows = []
    for j, row in enumerate(params["neurons"]):
        n = nid + j
        number = neuron_number(model_number, row["layer"], row["index"])
        for i, node in enumerate(row["nodes"]):
            tables["TrieNode"].add([first + i], {**node, "nid": number})
        for i in row["roots"]:
            tables["HAS_TRIE"].add([n, first + i], {})
        for parent, child in row["links"]:
            tables["NEXT"].add([first + parent, first + child], {})
        first += len(row["nodes"])
        if row["examples"] is not None:
            tables["Examples"].add([n], {"model": model, "layer": row["layer"], "neuron": row["index"], **row["examples"]})
            tables["HAS_EXAMPLES"].add([n, n], {})
        rows.append({**{k: v for k, v in row.items() if k not in ("nodes", "roots", "links", "examples")}, "nid": number})
    counts = {name: table.close() for name, table in tables.items()}
    return rows, params["shapes"], counts


def _part_path(directory: Path, stem: str, k: int) -> Path:
    return directory / f"{stem}.p{k:06d}.csv"


def _pool_context() -> Any:
    """How worker processes start: fork where the system has it (a worker runs `_part`
    only, pure Python on data it is handed, so nothing of the parent's threads is used);
    else spawn, unless the main module cannot be imported again (`python -` reading
    stdin, where spawned workers would fail at start-up): then None, one process."""
    import multiprocessing
    import sys

    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main is not None and not os.path.exists(main):
        return None
    return multiprocessing.get_context("spawn")


def _workers() -> int:
    configured = os.environ.get("N2GKB_BULK_WORKERS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise BulkImportError(f"N2GKB_BULK_WORKERS={configured!r} is not a number; use e.g. 2 (1: no worker processes)") from None
    return max(1, min(4, os.cpu_count() or 1))


def write_csv(
    directory: Path,
    models: dict[str, dict[str, Any]],
    results: Iterable[NeuronResult],
    run_id: str | None = None,
    kb_id: str | None = None,
    chunk: int | None = None,
    runs: Sequence[dict[str, Any]] = (),
) -> tuple[list[str], BulkStats]:
    """The graph of `results` (of the `models`: name -> Model properties; `runs`: Run
    nodes as {props, model}) as CSV files in `directory`; returns the import arguments.
    A neuron's run is its result's run (`run_id` for all of them when given). Neurons
    are taken in chunks of `chunk` (default `CHUNK_NEURONS`); from `PARALLEL_MIN_NEURONS`
    on, worker processes write their trie and example rows (the same files either way)."""
    import itertools
    import uuid

    directory.mkdir(parents=True, exist_ok=True)
    chunk = chunk or CHUNK_NEURONS
    stats = BulkStats()
    now = dt.datetime.now(dt.timezone.utc)
    labels = {
        "KnowledgeBase": _Table(directory / "kb.csv", [":ID(KB)"]),
        "Model": _Table(directory / "models.csv", [":ID(Model)"]),
        "Neuron": _Table(directory / "neurons.csv", [":ID(Neuron)"]),
        "Token": _Table(directory / "tokens.csv", [":ID(Token)"], {"text": "string"}),
    }
    rels = {
        "HAS_NEURON": _Table(directory / "has_neuron.csv", [":START_ID(Model)", ":END_ID(Neuron)"], {}),
        "FIRES_ON": _Table(directory / "fires_on.csv", [":START_ID(Neuron)", ":END_ID(Token)"], {"activation": "double"}),
        "CONTEXT": _Table(directory / "context.csv", [":START_ID(Neuron)", ":END_ID(Token)"], {}),
        "PRODUCED": _Table(directory / "produced.csv", [":START_ID(Run)", ":END_ID(Neuron)"], {}),
        "OF_MODEL": _Table(directory / "of_model.csv", [":START_ID(Run)", ":END_ID(Model)"], {}),
    }
    labels["Run"] = _Table(directory / "runs.csv", [":ID(Run)"])
    tokens: dict[str, str] = {}
    shapes: set[str] = set()
    model_ids = {}
    for number, (name, props) in enumerate(models.items()):
        model_ids[name] = number
        labels["Model"].add([model_ids[name]], {**_native(props or {}), "name": name})
    run_ids = {}
    for number, run in enumerate(runs):
        props = _native(run["props"])
        run_ids[props["id"]] = number
        labels["Run"].add([number], props)
        if run.get("model") in model_ids:
            rels["OF_MODEL"].add([number, model_ids[run["model"]]], {})

    def token_id(text: str) -> int:
        found = tokens.get(text)
        if found is None:
            found = tokens[text] = len(tokens)
            labels["Token"].add([found], {"text": text})
        return found

    def groups() -> Iterable[tuple[str, str | None, list[NeuronResult]]]:
        """(model, run, neurons) per chunk of the input, in input order."""
        items = iter(results)
        while True:
            batch = [item if isinstance(item, tuple) else (item, run_id) for item in itertools.islice(items, chunk)]
            if not batch:
                return
            for model in dict.fromkeys(r.model for r, _ in batch):
                if model not in model_ids:
                    raise BulkImportError(f"neuron of model {model!r}, which is not among the models to import")
                for run in dict.fromkeys(run for r, run in batch if r.model == model):
                    yield model, run, [r for r, rr in batch if r.model == model and rr == run]

    order: list[tuple[str, str | None]] = []  # (model, run) of each job, for its neuron rows

    def jobs(source: Iterable[tuple[str, str | None, list[NeuronResult]]]):
        nid = first = 0
        for k, (model, run, chosen) in enumerate(source):
            order.append((model, run))
            yield directory, k, model, model_ids[model] + 1, chosen, nid, first
            nid += len(chosen)
            first += sum(len(r.trie_nodes) for r in chosen)

    def take(k: int, rows: list[dict[str, Any]], chunk_shapes: list[str], counts: dict[str, int]) -> None:
        model, run = order[k]
        shapes.update(chunk_shapes)
        stats.trie_nodes += counts["TrieNode"]
        for name, n in counts.items():
            if name in _NODE_PARTS:
                stats.nodes += n
            else:
                stats.relationships += n
        for row in rows:
            nid = stats.neurons
            stats.neurons += 1
            scalars = {k: v for k, v in row.items() if k not in _STRUCTURE}
            props = {
                "model": model, **scalars, "run_id": run, "updated_at": now,
                **row["metrics"], **row["derived"], **row["props"],
            }
            labels["Neuron"].add([nid], props)
            rels["HAS_NEURON"].add([model_ids[model], nid], {})
            if run in run_ids:
                rels["PRODUCED"].add([run_ids[run], nid], {})
            for f in row["firing"]:
                rels["FIRES_ON"].add([nid, token_id(f["token"])], {"activation": f["activation"]})
            for c in row["context"]:
                rels["CONTEXT"].add([nid, token_id(c)], {})

    source = groups()
    head = list(itertools.islice(source, max(1, -(-PARALLEL_MIN_NEURONS // chunk))))  # enough chunks to decide
    workers = _workers()
    context = _pool_context() if workers > 1 else None
    if context is not None and sum(len(chosen) for _, _, chosen in head) >= PARALLEL_MIN_NEURONS:
        with context.Pool(workers) as pool:
            for k, out in enumerate(pool.imap(_part, jobs(itertools.chain(head, source)))):
                take(k, *out)
    else:
        for k, job in enumerate(jobs(itertools.chain(head, source))):
            take(k, *_part(job))
    labels["KnowledgeBase"].add(
        [0],
        {"name": "n2g-kb", "id": kb_id or str(uuid.uuid4()), "version": 1, "models": list(models), "shapes": sorted(shapes),
         "format": FORMAT},
    )
    args = []
    for label, table in labels.items():
        n = table.close()
        stats.nodes += n
        if n:
            args.append(f"--nodes={label}={table.path}")
    for name, (stem, fixed, columns) in _PARTED.items():
        # one file per table: neo4j-admin reads many part files (by a pattern) about 1.4x
        # slower than the same rows in one file (45 s against 32 s for 2.9M rows)
        path = directory / f"{stem}.csv"
        with open(path, "wb") as out:
            out.write(",".join(_header(fixed, columns)).encode() + b"\n")
            rows_written = False
            for k in range(len(order)):
                part = _part_path(directory, stem, k)
                if part.stat().st_size:
                    rows_written = True
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
                part.unlink()
        if rows_written:
            kind = "nodes" if name in _NODE_PARTS else "relationships"
            args.append(f"--{kind}={name}={path}")
        else:
            path.unlink()
    for rel_type, table in rels.items():
        n = table.close()
        stats.relationships += n
        if n:
            args.append(f"--relationships={rel_type}={table.path}")
    return args, stats


# ------------------------------------------------------------------------ the import


def _admin(server: Any, conf_dir: Path, args: list[str], timeout: float = 3600) -> None:
    from n2g_kb.kb.localdb import ADMIN_TOOL, find_java

    java = find_java()
    env = dict(os.environ, NEO4J_HOME=str(server.home), NEO4J_CONF=str(conf_dir))
    heap = os.environ.get("N2GKB_IMPORT_HEAP", "1g")
    proc = subprocess.run(
        [java, f"-Xmx{heap}", "-cp", server._classpath(), ADMIN_TOOL, *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise BulkImportError(f"neo4j-admin database import failed: {' / '.join(tail)[:400]}")


def bulk_build(
    server: Any,
    store: Any,
    models: dict[str, dict[str, Any]],
    results: Iterable[NeuronResult],
    run_id: str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> BulkStats:
    """Builds the managed server's (empty) knowledge base from `results` (neurons of
    `models`: name -> Model properties; items may be (result, run id) pairs) with
    neo4j-admin import and swaps it in; `store` is a Store on that server. Model and Run
    nodes already there (an ingest writes them first) are carried over."""
    say = on_status or (lambda msg: None)
    existing = store.read("bulk/existing")[0]
    if existing["others"]:
        raise BulkImportError("the bulk build needs an empty knowledge base; this one holds data (write over Bolt instead)")
    models = {**{m["name"]: {k: v for k, v in m.items() if k != "name"} for m in existing["models"]},
              **{name: {**next((m for m in existing["models"] if m["name"] == name), {}), **(props or {})}
                 for name, props in models.items()}}
    work = server.home / f"bulk-{int(time.time() * 1000)}"
    staging_conf = work / "conf"
    staging_data = work / "data"
    try:
        t0 = time.perf_counter()
        say("writing CSV ...")
        args, stats = write_csv(work / "csv", models, results, run_id, runs=existing["runs"])
        stats.csv_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        say("neo4j-admin database import full ...")
        staging_conf.mkdir(parents=True, exist_ok=True)
        conf = (server.home / "conf" / "neo4j.conf").read_text()
        conf = "\n".join(
            line for line in conf.splitlines() if not line.startswith("server.directories.data=")
        ) + f"\nserver.directories.data={staging_data}\n"
        (staging_conf / "neo4j.conf").write_text(conf)
        _admin(
            server,
            staging_conf,
            ["database", "import", "full", DATABASE, "--overwrite-destination=true", "--multiline-fields=true", "--id-type=integer",
             f"--array-delimiter={ARRAY_DELIMITER}", "--skip-duplicate-nodes=false", "--bad-tolerance=0",
             f"--report-file={work / 'import.report'}", *args],
        )
        stats.import_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        say("swapping the new database in ...")
        swap_in(server, staging_data)
        stats.swap_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        say("creating constraints and indexes ...")
        from n2g_kb.kb.db import connect

        # a new driver: the old one's bookmarks point past the new database's transactions
        store.driver = connect(server.connection(DATABASE), retry_s=120.0)
        store._schema_ready = False
        store.init_schema()
        stats.index_seconds = time.perf_counter() - t0
        return stats
    finally:
        shutil.rmtree(work, ignore_errors=True)


def swap_in(server: Any, staging_data: Path) -> None:
    """Stops the server, moves the staged store and logs in place of the current ones,
    and starts it again; if it does not start, the previous ones are moved back."""
    live = server.home / "data"
    pairs = [(staging_data / sub / DATABASE, live / sub / DATABASE) for sub in ("databases", "transactions")]
    if not all(src.exists() for src, _ in pairs):
        raise BulkImportError(f"the import left no database in {staging_data}")
    server.stop()
    stamp = int(time.time() * 1000)
    moved: list[tuple[Path, Path]] = []
    try:
        for src, dst in pairs:
            aside = dst.with_name(f"{dst.name}.replaced-{stamp}")
            if dst.exists():
                dst.rename(aside)
                moved.append((aside, dst))
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
        server.start(http=False)  # the index build needs Bolt only
    except BaseException as e:
        server.stop()
        for src, dst in pairs:
            if dst.exists():
                shutil.rmtree(dst, ignore_errors=True)
        for aside, dst in moved:
            aside.rename(dst)
        server.start()
        if isinstance(e, (N2GKBError, OSError)):
            raise BulkImportError(f"the imported database did not start ({e}); the previous one is back") from e
        raise
    for aside, _ in moved:
        shutil.rmtree(aside, ignore_errors=True)




class BulkSink:
    """Takes an ingest's neuron writes (`write_neurons`, as `Store` does) into a spool
    file, and builds them into the empty managed knowledge base at `finish`; nothing
    reaches Neo4j before that (an interrupted ingest leaves the knowledge base as it was)."""

    def __init__(self, server: Any, store: Any) -> None:
        import tempfile

        self.server = server
        self.store = store
        self.directory = Path(tempfile.mkdtemp(prefix="n2gkb-bulk-"))
        self.spool = open(self.directory / "results.pkl", "wb")

    @classmethod
    def usable(cls, store: Any) -> bool:
        """True when the knowledge base holds nothing but Model / Run nodes."""
        return store.read("bulk/existing")[0]["others"] == 0

    def write_neurons(self, model: str, results: Sequence[NeuronResult], run_id: str | None = None) -> None:
        import pickle

        pickle.dump([(r, run_id) for r in results], self.spool, protocol=5)
        self.spool.flush()

    def _spooled(self) -> Iterable[tuple[NeuronResult, str | None]]:
        import pickle

        with open(self.directory / "results.pkl", "rb") as f:
            while True:
                try:
                    yield from pickle.load(f)
                except EOFError:
                    return

    def finish(self, on_status: Callable[[str], None] | None = None) -> BulkStats:
        self.spool.close()
        try:
            return bulk_build(self.server, self.store, {}, self._spooled(), on_status=on_status)
        finally:
            self.discard()

    def discard(self) -> None:
        if not self.spool.closed:
            self.spool.close()
        shutil.rmtree(self.directory, ignore_errors=True)
