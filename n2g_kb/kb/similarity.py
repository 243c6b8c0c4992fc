"""`similar` in memory: every neuron's firing and context tokens as one sparse index.

The same answers as cypher/query/similar.cypher: the Jaccard overlap of role-tagged token
sets, `(|F_a & F_b| + |C_a & C_b|) / (|F_a | F_b| + |C_a | C_b|)`. A (role, token) pair is
one column; the index holds, per column, the neurons that have it, so the overlaps of one
neuron with every other are one count over the neurons of its own columns. Built from the
Neuron nodes' `firing` / `context` lists once per knowledge-base version and cached like
the fire matcher (`n2g_kb.kb.memcache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from n2g_kb.kb.memcache import default_cache_dir, load_state, load_versioned, save_state

FORMAT = 2
"""Version of the disk cache's layout (2: with firing_columns); a cache of another version is rebuilt."""
COLUMNS = [
    "model", "layer", "neuron", "other_layer", "other_neuron", "similarity",
    "firing_jaccard", "context_jaccard", "shared_firing", "shared_context",
]  # fmt: skip


@dataclass
class TokenSets:
    kb_id: str | None
    version: int
    models: list[str]
    model_of: np.ndarray  # per neuron: index into models
    layers: np.ndarray
    indexes: np.ndarray
    columns: list[tuple[str, str]]  # ('F' | 'C', token)
    firing_columns: np.ndarray  # per column: True for a firing token
    by_neuron: tuple[np.ndarray, np.ndarray]  # CSR: offsets, column ids (sorted)
    by_column: tuple[np.ndarray, np.ndarray]  # CSC: offsets, neuron ids
    n_firing: np.ndarray
    n_context: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], kb_id: str | None = None, version: int = 0) -> TokenSets:
        """Rows (model, layer, neuron, firing, context) as `read/token_sets` returns them."""
        models: dict[str, int] = {}
        column_ids: dict[tuple[str, str], int] = {}
        model_of, layers, indexes, n_firing, n_context, offsets, cols = [], [], [], [], [], [0], []
        for r in sorted(rows, key=lambda r: (r["model"], r["layer"], r["neuron"])):
            model_of.append(models.setdefault(r["model"], len(models)))
            layers.append(r["layer"])
            indexes.append(r["neuron"])
            firing, context = r["firing"] or [], r["context"] or []
            n_firing.append(len(firing))
            n_context.append(len(context))
            mine = sorted({column_ids.setdefault(("F", t), len(column_ids)) for t in firing}
                          | {column_ids.setdefault(("C", t), len(column_ids)) for t in context})  # fmt: skip
            cols.extend(mine)
            offsets.append(len(cols))
        n_offsets = np.array(offsets, dtype=np.int64)
        n_cols = np.array(cols, dtype=np.int32)
        owner = np.repeat(np.arange(len(model_of), dtype=np.int32), np.diff(n_offsets))
        order = np.argsort(n_cols, kind="stable")
        c_offsets = np.zeros(len(column_ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(n_cols, minlength=len(column_ids)), out=c_offsets[1:])
        return cls(
            kb_id=kb_id, version=version, models=list(models), model_of=np.array(model_of, dtype=np.int32),
            layers=np.array(layers, dtype=np.int64), indexes=np.array(indexes, dtype=np.int64),
            columns=list(column_ids), firing_columns=np.array([role == "F" for role, _ in column_ids], dtype=bool),
            by_neuron=(n_offsets, n_cols), by_column=(c_offsets, owner[order]),
            n_firing=np.array(n_firing, dtype=np.int64), n_context=np.array(n_context, dtype=np.int64),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.model_of)

    def similar(
        self,
        *,
        model: str | None = None,
        layer: int | None = None,
        neuron: int | None = None,
        threshold: float = 0.5,
        cross_layer_only: bool = False,
        limit: int | None = 50,
    ) -> pd.DataFrame:
        """query/similar's rows, in its order: the neurons matching the filters against every
        other neuron of their model (a pair of two matching neurons once, lower key first)."""
        chosen = np.ones(len(self), dtype=bool)
        if model is not None:
            chosen &= self.model_of == (self.models.index(model) if model in self.models else -1)
        if layer is not None:
            chosen &= self.layers == layer
        if neuron is not None:
            chosen &= self.indexes == neuron
        sizes = self.n_firing + self.n_context
        rows: list[tuple] = []
        n_offsets, n_cols = self.by_neuron
        c_offsets, owners = self.by_column
        for a in np.flatnonzero(chosen & (sizes > 0)).tolist():
            mine = n_cols[n_offsets[a] : n_offsets[a + 1]]
            starts, ends = c_offsets[mine], c_offsets[mine + 1]
            lists = [owners[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
            roles = np.repeat(self.firing_columns[mine], ends - starts)
            holders = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int32)
            shared_f = np.bincount(holders[roles], minlength=len(self))
            shared_c = np.bincount(holders[~roles], minlength=len(self))
            shared = shared_f + shared_c
            keep = (shared > 0) & (self.model_of == self.model_of[a])
            keep[a] = False
            if cross_layer_only:
                keep &= self.layers != self.layers[a]
            # a pair of two chosen neurons is listed once, from the lower (layer, index)
            keep &= ~chosen | (self.layers > self.layers[a]) | ((self.layers == self.layers[a]) & (self.indexes > self.indexes[a]))
            b = np.flatnonzero(keep)
            union_f = self.n_firing[a] + self.n_firing[b] - shared_f[b]
            union_c = self.n_context[a] + self.n_context[b] - shared_c[b]
            similarity = shared[b] / (union_f + union_c)
            good = similarity >= threshold
            for other, sim, sf, uf, sc, uc in zip(b[good].tolist(), similarity[good].tolist(), shared_f[b][good].tolist(),
                                                  union_f[good].tolist(), shared_c[b][good].tolist(), union_c[good].tolist()):  # fmt: skip
                rows.append((a, other, sim, sf / uf if uf else 0.0, sc / uc if uc else 0.0))
        rows.sort(key=lambda r: (-r[2], self.models[self.model_of[r[0]]], self.layers[r[0]], self.indexes[r[0]],
                                 self.layers[r[1]], self.indexes[r[1]]))  # fmt: skip
        if limit is not None:
            rows = rows[:limit]
        out = []
        for a, b, sim, fj, cj in rows:
            fa, ca = self._tokens(a)
            fb, cb = self._tokens(b)
            out.append((self.models[self.model_of[a]], int(self.layers[a]), int(self.indexes[a]), int(self.layers[b]),
                        int(self.indexes[b]), sim, fj, cj, [t for t in fa if t in fb], [t for t in ca if t in cb]))  # fmt: skip
        frame = pd.DataFrame.from_records(out, columns=COLUMNS)
        for column in ("layer", "neuron", "other_layer", "other_neuron"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def _tokens(self, i: int) -> tuple[list[str], list[str]]:
        """Neuron i's firing tokens (sorted) and context tokens (sorted), as stored."""
        n_offsets, n_cols = self.by_neuron
        firing, context = [], []
        for c in n_cols[n_offsets[i] : n_offsets[i + 1]].tolist():
            role, token = self.columns[c]
            (firing if role == "F" else context).append(token)
        return sorted(firing), sorted(context)

    def has(self, model: str, layer: int, neuron: int) -> bool:
        if model not in self.models:
            return False
        m = self.models.index(model)
        return bool(np.any((self.model_of == m) & (self.layers == layer) & (self.indexes == neuron)))

    # --------------------------------------------------------------------------- files

    def save(self, path: Path) -> None:
        save_state(path, {"format": FORMAT, **{k: getattr(self, k) for k in self.__dataclass_fields__}})

    @classmethod
    def load(cls, path: Path) -> TokenSets | None:
        state = load_state(path, FORMAT)
        if state is None:
            return None
        try:
            return cls(**state)
        except TypeError:  # written by a version with other fields: rebuilt from the database
            return None


_MEMORY: dict[tuple, TokenSets] = {}


def load_token_sets(store: Any, model: str | None = None, cache_dir: Path | None = None, state: tuple[Any, int] | None = None) -> TokenSets:
    """The token-set index of `model` (None: every model) for the knowledge base's current
    version: from memory, else from the disk cache, else built from the database."""
    return load_versioned(
        store, model, kind="tokensets", table=TokenSets, memory=_MEMORY, directory=cache_dir or default_cache_dir(),
        build=lambda kb_id, version: TokenSets.from_rows(store.read("read/token_sets", model=model), kb_id=kb_id, version=version),
        state=state,
    )  # fmt: skip
