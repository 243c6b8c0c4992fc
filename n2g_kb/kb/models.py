"""Model identity: a stored model name is bound to the source and shape it was ingested from.

The first ingest under a name creates its Model node with `source` (the hub name, or the
absolute path of a local checkpoint directory), `n_layers` and `d_mlp`. Every later
ingest under that name must come from the same source with the same shape; anything else
is a `ConfigError` telling the user to pick another `--name`, or to pass `--replace`,
which deletes the stored model's graphs and runs first. `--replace` only deletes when the
identity differs, so rerunning an interrupted `--replace` command resumes instead of
starting over. A Model node written without a source (by older versions, or by a write of
neurons alone) is bound by the next ingest.
"""

from __future__ import annotations

from typing import Any

from n2g_kb.errors import ConfigError

IDENTITY = ("source", "n_layers", "d_mlp", "kind", "sae")
"""The Model properties that say which model a name holds (one a stored Model lacks, as
written by an older version, is not compared)."""
_DELETE_BATCH = 200


def _describe(props: dict[str, Any]) -> str:
    return f"{props.get('source')} ({props.get('n_layers')} layers, {props.get('d_mlp')} neurons per layer)"


def bind_model(store: Any, name: str, props: dict[str, Any], *, replace: bool = False, run_id: str | None = None) -> str | None:
    """Binds `name` to the model `props` describe (IDENTITY keys plus any others to store).

    Returns a note for the user when it replaced a stored model, else None. Raises
    ConfigError when `name` holds another model and `replace` is False.
    """
    rows = store.write("ingest/bind_model", name=name, props=props, run_id=run_id)
    stored = rows[0]["model"] if rows else {}
    differs = stored.get("source") is not None and any(k in stored and stored[k] != props.get(k) for k in IDENTITY)
    note = None
    if differs:
        if not replace:
            raise ConfigError(
                f"the knowledge base already holds a model named {name!r} from {_describe(stored)}; "
                f"{props.get('source')} is another model: pass --name to store it under a new name, "
                f"or --replace to delete the stored {name!r} and ingest this one"
            )
        neurons = delete_model_graphs(store, name)
        note = f"replaced the stored {name!r} ({_describe(stored)}, {neurons:,} neurons deleted)"
    store.upsert_model(name, **props)
    return note


def delete_model_graphs(store: Any, name: str) -> int:
    """Deletes every neuron of model `name` with its graph, and the model's runs; returns
    how many neurons were deleted. The Model node stays (it is re-bound by the caller)."""
    deleted = 0
    while True:
        count = store.write("ingest/delete_model_batch", model=name, limit=_DELETE_BATCH)[0]["deleted"]
        if count == 0:
            break
        deleted += count
    store.write("ingest/delete_model_runs", model=name)
    return deleted


def drop_if_empty(store: Any, name: str, run_id: str) -> bool:
    """Deletes the Model `name` (and its runs) when it holds no neuron and no other run of
    it is still running: what a failed first ingest leaves. True when it was deleted."""
    rows = store.write("ingest/drop_empty_model", name=name, run_id=run_id)
    return bool(rows and rows[0]["deleted"])
