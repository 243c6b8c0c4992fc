"""Audit of a model's stored graphs: what must hold after any crash, kill or race.

`audit(store, model)` returns the problems found (an empty list for a sound knowledge
base): every Neuron hangs off its Model once and holds exactly one graph (one trie root
and all its trie nodes for an ok neuron, nothing for a dead or failed one); no trie node
or example hangs from nothing; and every Run's provenance agrees with what it produced
(a finished run produced exactly the neurons it counts as written, dead or failed, and
every neuron names the one run that produced it). The fault tests end with it.
"""

from __future__ import annotations

from typing import Any


def audit(store: Any, model: str) -> list[str]:
    problems: list[str] = []
    for row in store.read("ingest/audit_neurons", model=model):
        where = f"neuron {row['layer']}/{row['index']}"
        if row["model_edges"] != 1:
            problems.append(f"{where}: {row['model_edges']} HAS_NEURON edges")
        if row["status"] not in ("ok", "dead", "failed"):
            problems.append(f"{where}: status {row['status']!r}")
        if row["trie_nodes"] != (row["n_trie_nodes"] or 0):
            problems.append(f"{where}: {row['trie_nodes']} trie nodes, {row['n_trie_nodes']} claimed")
        if row["status"] == "ok" and (row["roots"] != 1 or row["examples"] == 0):
            problems.append(f"{where}: {row['roots']} roots, {row['examples']} examples")
        if row["status"] != "ok" and (row["roots"] or row["trie_nodes"]):
            problems.append(f"{where}: a {row['status']} neuron with a trie")
    orphans = store.read("ingest/audit_orphans", model=model)[0]
    problems += [f"{count} {kind}" for kind, count in orphans.items() if count]
    for run in store.read("ingest/audit_runs", model=model):
        counted = sum(run[k] or 0 for k in ("written", "dead", "failed"))
        if run["status"] == "finished" and run["produced"] != counted:
            problems.append(f"run {run['id']}: produced {run['produced']} neurons but counts {counted}")
        if run["mislabelled"]:
            problems.append(f"run {run['id']}: produced {run['mislabelled']} neurons that name another run")
    for row in store.read("ingest/audit_producers", model=model):
        problems.append(f"neuron {row['layer']}/{row['index']}: {row['producers']} PRODUCED edges")
    return problems


def census(store: Any) -> dict[str, int]:
    """Nodes per label and relationships per type, Runs and their edges left out (a
    resumed or concurrent ingest must leave the same graph as one clean run)."""
    rows = store.read("test/census")
    return {row["kind"]: row["count"] for row in rows}
