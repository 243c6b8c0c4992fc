"""Sharing a knowledge base: export a model to Parquet + JSONL files, import them anywhere.

Built on the Store's NeuronResult-level read/write API (`Store.read` of the read/ queries,
`result_from_record`, `Store.upsert_model`, `start_run`/`finish_run`, `write_neurons`),
not on the physical graph, so it keeps working when the graph model changes.

An export folder holds, each as ``NAME.parquet`` and ``NAME.jsonl`` (one JSON object a line):

=========  ===============================================================================
models     model, properties_json (the Model node's properties)
neurons    model, layer, neuron, max_activation, status, error, kind, sae, method,
           method_config_json, metrics_json, run_id
trie       model, layer, neuron, id, parent, kind, token, depth, activation, importance,
           end_activation (the trie rows of `n2g_kb.n2g.trie.Trie.to_rows`)
summary    model, layer, neuron, role ('FIRES_ON' | 'CONTEXT'), token, value (the summary
           edges exactly as stored: activation, importance)
examples   model, layer, neuron, split, idx, tokens, activations (raw)
runs       model, id, status, properties_json (provenance; datetimes as ISO text)
=========  ===============================================================================

plus ``manifest.json`` (format, counts, files). `import_folder` rebuilds every neuron as a
`NeuronResult` and writes it with `write_neurons` (grouped by run, so provenance edges come
back), or bulk-imports them all when the managed knowledge base is still empty, so the same queries give the same answers on the imported knowledge base. Neuron
properties that are not part of a `NeuronResult` (``evaluated_at``, ``eval_settings_json``)
are not carried; neither are the times a run started and finished as datetimes (they come
back as text properties ``exported_started_at`` / ``exported_finished_at``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2g_kb.errors import ConfigError
from n2g_kb.n2g.results import Example, NeuronResult

FORMAT = "n2g-kb-export/1"
TABLES = ("models", "neurons", "trie", "summary", "examples", "runs")
FORMATS = ("parquet", "jsonl")
TRIE_FIELDS = ("id", "parent", "kind", "token", "depth", "activation", "importance", "end_activation")
Progress = Callable[[str, int, int], None]


@dataclass
class ExportSummary:
    folder: Path
    models: list[str]
    counts: dict[str, int]
    files: list[str]


def _plain(value: Any) -> Any:
    """Neo4j temporal values (and anything else not JSON) as ISO text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.iso_format() if hasattr(value, "iso_format") else str(value)


# ------------------------------------------------------------------------------ export


def export_model(store, model: str, on_neuron: Progress | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every table of one model as lists of rows (see the module doc)."""
    from n2g_kb.kb.query import check_model
    from n2g_kb.kb.store import result_from_record

    row = check_model(store, model)
    props = {k: v for k, v in (row.get("properties") or {}).items() if k != "name"}
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    tables["models"].append({"model": model, "properties_json": json.dumps(_plain(props), sort_keys=True)})
    keys = store.read("read/neuron_keys", model=model)
    for i, key in enumerate(keys):
        records = store.read("read/neuron", model=model, layer=key["layer"], index=key["neuron"])
        r = result_from_record(records[0])
        where = {"model": model, "layer": r.layer, "neuron": r.index}
        tables["neurons"].append(
            {
                **where,
                "max_activation": float(r.max_activation),
                "status": r.status,
                "error": r.error,
                "kind": getattr(r, "kind", "neuron"),
                "sae": getattr(r, "sae", None),
                "method": getattr(r, "method", "paper"),
                "method_config_json": json.dumps(getattr(r, "method_config", {}) or {}, sort_keys=True),
                "metrics_json": json.dumps(r.metrics, sort_keys=True),
                "run_id": key["run_id"],
            }
        )
        tables["trie"].extend({**where, **{f: node.get(f) for f in TRIE_FIELDS}} for node in r.trie_nodes)
        counters: dict[str, int] = defaultdict(int)
        for ex in r.examples:
            tables["examples"].append(
                {**where, "split": ex.split, "idx": counters[ex.split], "tokens": list(ex.tokens),
                 "activations": [float(a) for a in ex.activations]}
            )
            counters[ex.split] += 1
        if on_neuron:
            on_neuron("neurons", i + 1, len(keys))
    tables["summary"] = [{"model": model, **edge} for edge in store.read("read/summary_edges", model=model)]
    for run in store.read("read/runs", model=model):
        extra = {k: v for k, v in run["props"].items() if k not in ("id", "status", "model")}
        tables["runs"].append(
            {"model": model, "id": run["id"], "status": run["status"], "properties_json": json.dumps(_plain(extra), sort_keys=True)}
        )
    return tables


def _write_table(folder: Path, name: str, rows: list[dict[str, Any]], formats: Iterable[str]) -> list[str]:
    written = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        if fmt == "jsonl":
            with path.open("w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({}), path)
        written.append(path.name)
    return written


def export(store, models: Iterable[str], folder: str | Path, formats: Iterable[str] = FORMATS,
           progress: Progress | None = None) -> ExportSummary:
    """Writes the tables of `models` into `folder` (created; existing export files replaced)."""
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"Unknown export format {', '.join(unknown) or '(none)'}; use {' and/or '.join(FORMATS)}")
    folder = Path(folder)
    models = list(models)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for model in models:
        for name, rows in export_model(store, model, progress).items():
            tables[name].extend(rows)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = [f for name in TABLES for f in _write_table(folder, name, tables[name], formats)]
        counts = {name: len(rows) for name, rows in tables.items()}
        manifest = {"format": FORMAT, "models": models, "counts": counts, "files": files}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"Cannot write the export to {folder}: {e.strerror or e}; pass a writable folder") from e
    return ExportSummary(folder=folder, models=models, counts=counts, files=[*files, "manifest.json"])


# ------------------------------------------------------------------------------ import


def read_tables(folder: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The tables of an export folder (Parquet when present, else JSONL)."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"{folder} is not an n2g-kb export (no manifest.json); write one with `n2gkb export MODEL {folder}`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"{folder}: unknown export format {manifest.get('format')!r} (this n2g-kb reads {FORMAT})")
    tables = {}
    for name in TABLES:
        parquet, jsonl = folder / f"{name}.parquet", folder / f"{name}.jsonl"
        if parquet.is_file():
            import pyarrow.parquet as pq

            tables[name] = pq.read_table(parquet).to_pylist()
        elif jsonl.is_file():
            with jsonl.open(encoding="utf-8") as lines:
                tables[name] = [json.loads(line) for line in lines if line.strip()]
        else:
            raise ConfigError(f"{folder}: {name}.parquet / {name}.jsonl is missing; export again")
    return tables


def results_from_tables(tables: dict[str, list[dict[str, Any]]]) -> list[tuple[NeuronResult, str | None]]:
    """Every exported neuron as a `NeuronResult`, with the id of the run that produced it."""
    def key(row):
        return (row["model"], row["layer"], row["neuron"])

    trie, examples, firing, context = defaultdict(list), defaultdict(list), defaultdict(dict), defaultdict(dict)
    for row in tables["trie"]:
        trie[key(row)].append({f: row.get(f) for f in TRIE_FIELDS})
    order = {"train": 0, "test": 1, "sample": 2, "random": 3}  # the order extraction stores them in
    for row in sorted(tables["examples"], key=lambda r: (order.get(r["split"], 4), r["idx"])):
        examples[key(row)].append(Example(tokens=list(row["tokens"]), activations=list(row["activations"]), split=row["split"]))
    for row in tables["summary"]:
        (firing if row["role"] == "FIRES_ON" else context)[key(row)][row["token"]] = row["value"]
    out = []
    for row in tables["neurons"]:
        k = key(row)
        result = NeuronResult(
            model=row["model"], layer=row["layer"], index=row["neuron"], max_activation=row["max_activation"],
            status=row["status"], trie_nodes=sorted(trie[k], key=lambda n: n["id"]), firing_tokens=firing[k],
            context_tokens=context[k], examples=examples[k], metrics=json.loads(row["metrics_json"]), error=row["error"],
        )
        for field, value in (("kind", row.get("kind")), ("sae", row.get("sae")), ("method", row.get("method")),
                             ("method_config", json.loads(row.get("method_config_json") or "{}"))):
            if hasattr(result, field) and value is not None:
                setattr(result, field, value)
        out.append((result, row.get("run_id")))
    return out


def import_folder(
    store,
    folder: str | Path,
    chunk_size: int = 64,
    progress: Progress | None = None,
    bulk: Any = None,
    on_status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Writes an export folder into `store`: models, runs, then every neuron (replacing
    neurons with the same key). Returns counts of what was written (and `bulk`: whether
    the bulk path was taken).

    `bulk` (the managed `LocalNeo4j` behind `store`): when its knowledge base holds nothing
    yet, the neurons go in through `neo4j-admin database import` (`n2g_kb.kb.bulk`), which
    builds the same graph as the batched writes at several times their speed; otherwise
    they are written over Bolt."""
    tables = read_tables(folder)
    for row in tables["models"]:
        store.upsert_model(row["model"], **json.loads(row["properties_json"]))
    for row in tables["runs"]:
        props = json.loads(row["properties_json"])
        started, finished = props.pop("started_at", None), props.pop("finished_at", None)
        store.start_run(row["id"], row["model"], **props)
        stamps = {k: v for k, v in (("exported_started_at", started), ("exported_finished_at", finished)) if v}
        store.finish_run(row["id"], row["status"], **stamps)
    if bulk is not None:
        from n2g_kb.kb.bulk import BulkSink, bulk_build

        if BulkSink.usable(store):
            stats = bulk_build(bulk, store, {}, results_from_tables(tables), on_status=on_status)
            if progress:
                progress("neurons", stats.neurons, len(tables["neurons"]))
            return {"models": len(tables["models"]), "runs": len(tables["runs"]), "neurons": stats.neurons,
                    "bulk": True, "elements_per_s": stats.elements_per_s}  # fmt: skip
    groups: dict[tuple[str, str | None], list[NeuronResult]] = defaultdict(list)
    for result, run_id in results_from_tables(tables):
        groups[(result.model, run_id)].append(result)
    done, total = 0, len(tables["neurons"])
    for (model, run_id), results in groups.items():
        for start in range(0, len(results), chunk_size):
            batch = results[start : start + chunk_size]
            store.write_neurons(model, batch, run_id=run_id)
            done += len(batch)
            if progress:
                progress("neurons", done, total)
    return {"models": len(tables["models"]), "runs": len(tables["runs"]), "neurons": done, "bulk": False}
