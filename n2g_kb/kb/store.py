"""The one door to Neo4j.

`Store` is handed a driver and a database name (the CLI owns the driver) and runs the
named queries of `cypher/`. Reads go to READ routing, writes run in managed
transactions; driver exceptions become `DatabaseError` here and nowhere else.

Writing neurons: `write_neurons` replaces each given neuron's whole graph (trie, summary
edges, examples, run edge) inside ONE transaction, so a neuron is either fully the old
graph or fully the new one, never half of each, and re-ingesting never duplicates.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import neo4j
import numpy as np
from neo4j import exceptions as nx

from n2g_kb.kb import cypher
from n2g_kb.kb.precompute import NEURON_FIELDS, neuron_values, node_values
from n2g_kb.errors import ConfigError, DatabaseError, NotFoundError
from n2g_kb.faults import fault_point
from n2g_kb.n2g.results import Example, NeuronResult
from n2g_kb.n2g.trie import IGNORE, MAX_TOKEN_BYTES, Trie, TrieRowsError, token_key
from n2g_kb.settings import ConnectionSettings

_SHORT = MAX_TOKEN_BYTES // 4
_WRITE_ATTEMPTS = 4  # a chunk whose neurons another writer created first is written again
WRITE_GROUP_NEURONS = 8
WRITE_GROUP_NODES = 4_000
"""At most this many neurons, and about this many trie nodes, per write transaction: a
transaction that replaces many neurons' graphs slows down with its size (bench/ingest.py,
one transaction at a time: 64 neurons per transaction replaced at 6-9k graph elements/s, 16
at 14-18k; two in flight, three runs each: 32 neurons replaced at 21.5-26.1k, 16 at
25.9-31.3k, 8 at 27.7-34.8k)."""
WRITE_CONCURRENCY = 2
"""Write transactions in flight at once (N2GKB_WRITE_CONCURRENCY overrides it): one
transaction runs on one server core, so a second one in flight keeps another core busy
(bench: 512 neurons of 150 trie nodes, 2-core machine: fresh 19-37k -> 41-43k graph
elements/s, replacing 17-19k -> 33-35k; a third gained nothing)."""


def write_concurrency() -> int:
    """WRITE_CONCURRENCY, or N2GKB_WRITE_CONCURRENCY where it is set (1: one transaction at a time)."""
    raw = os.environ.get("N2GKB_WRITE_CONCURRENCY")
    if not raw:
        return WRITE_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"N2GKB_WRITE_CONCURRENCY={raw!r} is not a positive whole number; use e.g. 2 (1: one write transaction at a time)")
    return value


def _finite(x: Any) -> Any:
    """Neo4j stores NaN fine but JSON and comparisons do not; keep None for missing values."""
    if isinstance(x, float) and x != x:
        return None
    return x


def _key(token: str | None) -> str | None:
    """Indexed token texts fit Neo4j's index key limit (see `n2g_kb.n2g.trie.token_key`)."""
    if not isinstance(token, str) or len(token) <= _SHORT:
        return token  # at most 4 UTF-8 bytes a character: short texts are their own key
    return token_key(token)


def _unicode_error(e: UnicodeError) -> ConfigError:
    return ConfigError(
        "a text given is not valid Unicode (it holds a lone surrogate, e.g. from bytes that are not UTF-8); "
        "pass UTF-8 text"
    )


def pack_examples(examples: Sequence[Example]) -> dict[str, Any] | None:
    """A neuron's examples as the properties of its one Examples node (None when it has
    none): per example its split and length (`splits` string[], `lengths` long[]), then
    every example's tokens and raw activations one after another, each as ONE string:
    `tokens_json` the JSON array of the token strings (readable in Neo4j Browser, any
    text allowed), `activations_f64` base64 of the little-endian float64 values (exact:
    `np.frombuffer(base64.b64decode(s), "<f8")` reads them back). Two strings instead of
    a string[] and a double[]: the bulk import writes and parses no item by item (3,000
    neurons of 20 x 64 tokens: CSV ~5 s -> ~2.5 s, neo4j-admin import ~9.5 s -> ~6.5 s)."""
    if not examples:
        return None
    tokens = [t for ex in examples for t in ex.tokens]
    activations = np.concatenate([np.asarray(ex.activations, dtype="<f8").reshape(-1) for ex in examples])
    return {
        "splits": [ex.split for ex in examples],
        "lengths": [len(ex.tokens) for ex in examples],
        "tokens_json": json.dumps(tokens, ensure_ascii=False, separators=(",", ":")),
        "activations_f64": base64.b64encode(activations.tobytes()).decode("ascii"),
    }


def unpack_examples(packed: dict[str, Any] | None) -> list[Example]:
    """The examples of an Examples node's properties (`pack_examples` read back; the
    `tokens` string[] and `activations` double[] of knowledge bases written before the
    two strings are read too)."""
    if not packed or not packed.get("splits"):
        return []
    if packed.get("tokens_json") is not None:
        tokens = json.loads(packed["tokens_json"])
    else:
        tokens = packed.get("tokens") or []
    if packed.get("activations_f64") is not None:
        activations = np.frombuffer(base64.b64decode(packed["activations_f64"]), dtype="<f8").tolist()
    else:
        activations = [float(a) for a in packed.get("activations") or []]
    out, start = [], 0
    for split, length in zip(packed["splits"], packed.get("lengths") or []):
        end = start + int(length)
        out.append(Example(tokens=list(tokens[start:end]), activations=activations[start:end], split=split))
        start = end
    return out


def _derived_kind(token: str | None) -> str:
    """A trie node's kind from its token (the rule of `Trie.from_rows`): no token is the
    root, `IGNORE` a wildcard, anything else a token (the readers' Cypher does the same)."""
    return "root" if token is None else "ignore" if token == IGNORE else "token"


def _slim(props: dict[str, Any], linked: bool) -> dict[str, Any]:
    """A trie node's stored properties: what the readers derive is left out (each one only
    where the derived value equals it): `id` (the readers number the rows as
    `Trie.to_rows` does), `kind` (from the token), `parent` (the node above it on NEXT),
    `depth` (its path's length from the root) and a firing-token node's `activation`
    (minus its `fire_rank`)."""
    if linked or props.get("parent") is None:  # a row whose parent is missing keeps both
        props.pop("id", None)
    if props.get("kind") == _derived_kind(props.get("token")):
        del props["kind"]
    if linked:
        props.pop("parent", None)
        props.pop("depth", None)
    fire_rank = props.get("fire_rank")
    if fire_rank is not None and props.get("activation") == -fire_rank:
        del props["activation"]
    return props


LAYERS = 1000
"""Layers a model can have in the knowledge base (0 .. LAYERS - 1): a neuron's number holds its layer in 3 digits."""
UNITS = 10_000_000
"""Neurons (or SAE latents) a layer can have (indexes 0 .. UNITS - 1): a neuron's number holds its index in 7 digits,
so the numbers of the first models stay below 2^35, which Neo4j stores in one 8-byte property block instead of two."""
FORMAT = 3
"""The graph format this version writes: trie nodes carry their neuron's number (nid), not model, layer and neuron
(format 2, whose numbers held the index in 9 digits), and pattern keys write a wildcard as `\\*` (format 2: <IGNORE>)."""


def neuron_number(model_number: int, layer: int, index: int) -> int:
    """A neuron's number (nid), on its Neuron and each of its trie nodes (the trie indexes end
    in it): (model number * 1000 + layer) * 10000000 + index, where the model number is the
    model's place in the KnowledgeBase node's list `models`, from 1. Queries read model,
    layer and index back from it: kb.models[nid / 10^10 - 1], nid / 10^7 % 1000, nid % 10^7."""
    return (model_number * LAYERS + layer) * UNITS + index


def _check_number(r: NeuronResult) -> None:
    if not (0 <= r.layer < LAYERS and 0 <= r.index < UNITS):
        raise ConfigError(
            f"neuron {r.model} {r.layer}/{r.index}: the knowledge base holds layers 0-{LAYERS - 1} and "
            f"indexes 0-{UNITS - 1:,} of a layer; this one is out of that range"
        )


def neuron_params(model: str, results: Sequence[NeuronResult]) -> dict[str, Any]:
    """The parameters of write/neurons for a batch of results (pure)."""
    neurons = []
    shapes: set[str] = set()
    for r in results:
        _check_number(r)
        position = {row["id"]: i for i, row in enumerate(r.trie_nodes)}
        if len(position) != len(r.trie_nodes):  # nothing in the database keys trie nodes
            seen: set[Any] = set()
            twice = next(row["id"] for row in r.trie_nodes if row["id"] in seen or seen.add(row["id"]))
            raise ConfigError(f"neuron {r.model} {r.layer}/{r.index}: its trie rows repeat trie node id {twice}; "
                              "each row needs its own id")
        # indexed token texts fit Neo4j's key limit (identity for extraction's own tokens)
        trie = [{**row, "token": _key(row.get("token"))} for row in r.trie_nodes]
        firing = {_key(t): a for t, a in r.firing_tokens.items()}
        context = {_key(t): i for t, i in r.context_tokens.items()}
        derived = neuron_values(trie, firing, context)
        shapes.update(derived.pop("shapes"))
        # empty values are left unset (as the bulk import leaves them)
        derived = {k: (None if v in ([], "") else v) for k, v in derived.items()}
        # each trie node's properties as one map (nulls left out), its root(s) and its
        # NEXT edges as [parent position, child position] in the list
        nodes, roots, links = [], [], []
        for i, (row, values) in enumerate(zip(trie, node_values(trie, firing))):
            props = {**row, **values}
            parent = position.get(row.get("parent"))
            if parent is None:
                roots.append(i)
            else:
                links.append([parent, i])
            nodes.append(_slim({k: v for k, v in props.items() if v is not None}, parent is not None))
        examples = pack_examples(r.examples)
        neurons.append(
            {
                "layer": r.layer,
                "index": r.index,
                "max_activation": float(r.max_activation),
                "status": r.status,
                "error": r.error,
                "method": r.method,
                "method_config_json": json.dumps(r.method_config, sort_keys=True, default=str) if r.method_config else None,
                "n_trie_nodes": len(r.trie_nodes),
                "metrics": {k: _finite(float(v)) for k, v in r.metrics.items()},
                "props": dict(getattr(r, "props", None) or {}),
                "derived": derived,
                "nodes": nodes,
                "roots": roots,
                "links": links,
                "firing": [{"token": t, "activation": float(a)} for t, a in firing.items()],
                "context": list(context),  # CONTEXT edges; their importances are in derived
                "examples": examples,
                "kind": r.kind,
                "sae": r.sae,
            }
        )
    return {"model": model, "neurons": neurons, "shapes": sorted(shapes), "format": FORMAT}


def _write_groups(results: Sequence[NeuronResult]) -> list[Sequence[NeuronResult]]:
    """`results` cut into the groups `Store.write_neurons` writes one transaction each."""
    groups: list[Sequence[NeuronResult]] = []
    start, nodes = 0, 0
    for i, r in enumerate(results):
        if i > start and (i - start >= WRITE_GROUP_NEURONS or nodes + len(r.trie_nodes) > WRITE_GROUP_NODES):
            groups.append(results[start:i])
            start, nodes = i, 0
        nodes += len(r.trie_nodes)
    groups.append(results[start:])
    return groups


class Store:
    """Reads and writes the knowledge base through the named Cypher queries."""

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j", settings: ConnectionSettings | None = None) -> None:
        self.driver = driver
        self.database = database
        self.settings = settings
        self._schema_ready = False
        self._format_checked = False

    # -- plumbing ------------------------------------------------------------------------
    def _wrap(self, e: Exception) -> DatabaseError:
        from n2g_kb.kb.db import wrap

        settings = self.settings or ConnectionSettings(uri="bolt://unknown", database=self.database)
        return wrap(e, settings)

    def read(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Runs the read query `cypher/<query>.cypher` and returns its records as dicts."""
        try:
            if not self._format_checked:
                self._check_format()
            records, _, _ = self.driver.execute_query(
                cypher.load(query), parameters_=params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        except (nx.Neo4jError, nx.DriverError, OSError) as e:
            raise self._wrap(e) from e
        except UnicodeError as e:
            raise _unicode_error(e) from None
        return [r.data() for r in records]

    def write(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Runs the write query `cypher/<query>.cypher` in one transaction."""
        self.ensure_schema()
        try:
            records, _, _ = self.driver.execute_query(cypher.load(query), parameters_=params, database_=self.database)
        except (nx.Neo4jError, nx.DriverError, OSError) as e:
            raise self._wrap(e) from e
        except UnicodeError as e:
            raise _unicode_error(e) from None
        return [r.data() for r in records]

    # -- schema and housekeeping ---------------------------------------------------------
    def init_schema(self) -> None:
        """Creates the constraints and indexes (idempotent), brings a knowledge base written by
        an earlier version to the current format (`migrate`) and waits until the indexes are online."""
        try:
            with self.driver.session(database=self.database) as session:
                for statement in cypher.statements("schema"):
                    session.run(statement).consume()
            self.migrate()
            with self.driver.session(database=self.database) as session:
                session.run("CALL db.awaitIndexes(300)").consume()
        except (nx.Neo4jError, nx.DriverError, OSError) as e:
            raise self._wrap(e) from e
        self._schema_ready = True
        self._format_checked = True

    def migrate(self, batch: int = 200) -> int:
        """Gives a knowledge base written before neuron numbers its numbers (cypher/admin/
        migrate_models, then migrate_nid: one pass, `batch` neurons a transaction, so an
        interrupted migration goes on where it stopped); returns the neurons migrated (0
        when the format is current)."""
        if not self._outdated():
            return 0
        # a one-time pass that can take minutes on a large knowledge base: say what is happening
        print(f"n2g-kb: bringing the knowledge base to graph format {FORMAT} (once; an interrupted run goes on "
              "where it stopped) ...", file=sys.stderr, flush=True)
        self._run("admin/migrate_models")
        with self.driver.session(database=self.database) as session:  # IN TRANSACTIONS: an implicit transaction
            done = session.run(cypher.load("admin/migrate_nid"), limit=batch).single()["migrated"]
        self._run("admin/format_set", format=FORMAT)
        return done

    def _run(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query(cypher.load(query), parameters_=params, database_=self.database)
        return [r.data() for r in records]

    def _outdated(self) -> bool:
        """Whether the knowledge base holds trie nodes of an earlier format than `FORMAT`."""
        row = self._run("admin/format")[0]
        return bool(row["trie_nodes"]) and (row["format"] is None or row["format"] < FORMAT)

    def _check_format(self) -> None:
        """On the first read: a knowledge base of an earlier format is migrated first (its
        trie nodes would not be found by the current indexes)."""
        self._format_checked = True
        if self._outdated():
            self.init_schema()

    def ensure_schema(self) -> None:
        if not self._schema_ready:
            self.init_schema()

    def counts(self) -> dict[str, int]:
        row = self.read("admin/counts")[0]
        return {"nodes": row["nodes"], "relationships": row["relationships"]}

    def server_version(self) -> str:
        rows = self.read("admin/version")
        return rows[0]["version"] if rows else "unknown"

    def clear(self, batch: int = 10_000) -> None:
        """Deletes every node and relationship (tests only; the CLI never calls this)."""
        while True:
            try:
                records, _, _ = self.driver.execute_query(
                    cypher.load("admin/clear_batch"), parameters_={"limit": batch}, database_=self.database
                )
            except (nx.Neo4jError, nx.DriverError, OSError) as e:
                raise self._wrap(e) from e
            if records[0]["deleted"] == 0:
                return

    # -- writing -------------------------------------------------------------------------
    def upsert_model(self, name: str, **props: Any) -> None:
        self.write("write/model", name=name, props=props, format=FORMAT)

    def start_run(self, run_id: str, model: str, **props: Any) -> None:
        self.write("write/run_start", id=run_id, model=model, props=_jsonable(props), format=FORMAT)

    def finish_run(self, run_id: str, status: str, **props: Any) -> None:
        self.write("write/run_finish", id=run_id, status=status, props=_jsonable(props))

    def write_neurons(
        self, model: str, results: Sequence[NeuronResult], run_id: str | None = None, *, claim: bool = False,
        force: bool = False,
    ) -> list[NeuronResult]:
        """Replaces the graphs of these neurons and returns the results it wrote.

        Each neuron lands whole or not at all: the neurons are written in groups of at most
        `WRITE_GROUP_NEURONS` (and about `WRITE_GROUP_NODES` trie nodes), one transaction
        per group, up to `write_concurrency()` of them at once, started in order; after a
        failure no further group starts, the ones in flight finish, and it raises.

        With `claim` (an ingest's writes), each transaction first locks its neurons' Neuron
        nodes (cypher/ingest/claim) and leaves out those another run has finished (with
        `force`: finished since this run started), so concurrent ingests of the same neurons
        take turns and each neuron's graph and provenance come from one run. A constraint
        error (another writer created the same nodes first) runs the transaction again.
        """
        if not results:
            return []
        self.ensure_schema()
        groups = _write_groups(results)
        keys = [(r.layer, r.index) for r in results]
        width = min(write_concurrency(), len(groups))
        if width <= 1 or len(set(keys)) < len(keys):
            # one group, or a neuron given twice (its later version must land last)
            written: list[NeuronResult] = []
            for group in groups:
                written.extend(self._write_group(model, group, run_id, claim, force))
            return written
        return self._write_concurrently(model, groups, run_id, claim, force, width)

    def _write_concurrently(
        self, model: str, groups: list[Sequence[NeuronResult]], run_id: str | None, claim: bool, force: bool,
        width: int,
    ) -> list[NeuronResult]:
        """`write_neurons` with up to `width` group transactions in flight, started in order.
        After a failure no further group starts; the groups in flight finish (each lands
        whole or not at all) and the first failure is raised."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        done: dict[int, list[NeuronResult]] = {}
        failure: BaseException | None = None
        with ThreadPoolExecutor(width, thread_name_prefix="n2gkb-write") as pool:
            running: dict[Future, int] = {}
            queue = iter(enumerate(groups))
            while True:
                while failure is None and len(running) < width:
                    item = next(queue, None)
                    if item is None:
                        break
                    i, group = item
                    running[pool.submit(self._write_group, model, group, run_id, claim, force)] = i
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    i = running.pop(future)
                    try:
                        done[i] = future.result()
                    except BaseException as e:  # noqa: BLE001 - re-raised below, after the in-flight groups
                        failure = failure or e
        if failure is not None:
            raise failure
        return [r for i in sorted(done) for r in done[i]]

    def _write_group(
        self, model: str, results: Sequence[NeuronResult], run_id: str | None, claim: bool, force: bool
    ) -> list[NeuronResult]:
        """`write_neurons` for one group: one transaction."""
        params = neuron_params(model, results)
        params["run_id"] = run_id
        query = cypher.load("write/neurons")
        claim_query = cypher.load("ingest/claim") if claim else None
        keys = [{"layer": r.layer, "index": r.index} for r in results]

        def work(tx: neo4j.ManagedTransaction) -> list[NeuronResult]:
            chosen, rows = list(results), params["neurons"]
            if claim_query is not None:
                free = {(rec["layer"], rec["index"]) for rec in tx.run(claim_query, model=model, run_id=run_id, force=force, keys=keys)}
                chosen = [r for r in results if (r.layer, r.index) in free]
                rows = [row for row in rows if (row["layer"], row["index"]) in free]
            if rows:
                tx.run(query, {**params, "neurons": rows}).consume()
            fault_point("write-tx")
            return chosen

        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self.driver.session(database=self.database) as session:
                    return session.execute_write(work)
            except nx.ConstraintError as e:
                if attempt + 1 == _WRITE_ATTEMPTS:
                    raise self._wrap(e) from e
            except (nx.Neo4jError, nx.DriverError, OSError) as e:
                raise self._wrap(e) from e
            except UnicodeError as e:
                raise _unicode_error(e) from None
        return []

    # -- reading -------------------------------------------------------------------------
    def identity(self) -> str:
        """Which server and database this store reads (for caches kept outside Neo4j)."""
        uri = self.settings.uri if self.settings is not None else "unknown"
        return f"{uri}/{self.database}"

    def kb_version(self) -> tuple[str | None, int]:
        """(id, version) of the knowledge base; every neuron write bumps the version."""
        state = self.kb_state()
        return state[0], state[1]

    def kb_state(self) -> tuple[str | None, int, list[str]]:
        """(id, version, names of the models with neurons) in one read."""
        rows = self.read("read/kb_version")
        return (rows[0]["id"], int(rows[0]["version"] or 0), list(rows[0]["models"])) if rows else (None, 0, [])

    def pattern_ends(self, model: str | None = None) -> list[dict[str, Any]]:
        """Every stored pattern (model, layer, neuron, pkey, activation) of `model` (None: all)."""
        return self.read("read/pattern_ends", model=model)

    def neuron_status(self, model: str, layer: int) -> dict[int, str]:
        return {row["index"]: row["status"] for row in self.read("read/neuron_status", model=model, layer=layer)}

    def chunk_status(self, model: str, layer: int, indexes: Sequence[int]) -> dict[int, str]:
        """Status of these neurons of a layer (those stored)."""
        rows = self.read("ingest/chunk_status", model=model, layer=layer, indexes=list(indexes))
        return {row["index"]: row["status"] for row in rows}

    def load_neuron(self, model: str, layer: int, index: int) -> NeuronResult:
        """One stored neuron as a `NeuronResult` (trie rows, examples, metrics)."""
        rows = self.read("read/neuron", model=model, layer=layer, index=index)
        if not rows:
            raise NotFoundError(
                f"No neuron {model} layer {layer} #{index} in the knowledge base; ingest it with "
                f"`n2gkb ingest {model} --layers {layer} --neurons {index}`"
            )
        return result_from_record(rows[0])


_NEURON_FIELDS = {
    "model", "layer", "index", "nid", "max_activation", "status", "error", "n_trie_nodes", "run_id", "updated_at", "method",
    "method_config_json", *NEURON_FIELDS,
}
_UNIT_FIELDS = {"kind", "sae"}


def _numbered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trie rows read back, numbered as `Trie.to_rows` numbers them (ids 0..n-1 depth
    first, the root 0) where they were stored without ids (named by their path); rows
    stored with their ids, or that form no trie, are returned as they are."""
    if not rows or all(isinstance(r.get("id"), int) for r in rows):
        return rows
    try:
        return Trie.from_rows(rows).to_rows()
    except TrieRowsError:
        return rows


def result_from_record(record: dict[str, Any]) -> NeuronResult:
    """Rebuilds a `NeuronResult` from a read/neuron record (summary tokens from the trie)."""
    props = record["neuron"]
    nodes = _numbered([dict(n) for n in record["nodes"] if n is not None and n.get("id") is not None])
    # one Examples node per neuron; a knowledge base written before it has one Example node per example
    examples = unpack_examples(record.get("packed")) or [
        Example(tokens=list(e["tokens"]), activations=list(e["activations"]), split=e["split"]) for e in record.get("examples") or [] if e
    ]
    metrics = {
        k: float(v)
        for k, v in props.items()
        if k not in _NEURON_FIELDS and k not in _UNIT_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    firing: dict[str, float] = {}
    context: dict[str, float] = {}
    for n in nodes:
        if n["kind"] == "token" and n["depth"] == 1 and n.get("activation") is not None:
            firing[n["token"]] = max(firing.get(n["token"], 0.0), n["activation"])
        elif n["kind"] == "token" and n["depth"] >= 2 and n.get("importance") is not None:
            context[n["token"]] = max(context.get(n["token"], 0.0), n["importance"])
    return NeuronResult(
        model=props["model"],
        layer=props["layer"],
        index=props["index"],
        max_activation=props.get("max_activation") or 0.0,
        status=props.get("status") or "ok",
        trie_nodes=nodes,
        firing_tokens=firing,
        context_tokens=context,
        examples=examples,
        metrics=metrics,
        error=props.get("error"),
        kind=props.get("kind") or "neuron",
        sae=props.get("sae"),
        method=props.get("method") or "paper",
        method_config=json.loads(props["method_config_json"]) if props.get("method_config_json") else {},
    )


def _jsonable(props: dict[str, Any]) -> dict[str, Any]:
    """Neo4j properties are scalars or lists of scalars: nested values go in as JSON text."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        if isinstance(v, dict) or (isinstance(v, (list, tuple)) and any(isinstance(x, (dict, list)) for x in v)):
            out[k if k.endswith("_json") else f"{k}_json"] = json.dumps(v, sort_keys=True, default=str)
        else:
            out[k] = list(v) if isinstance(v, tuple) else v
    return out
