"""Fire-on-text in memory: every stored trie merged into one pattern table.

Every pattern-end trie node carries its pattern as one key (`pkey`, see
`n2g_kb.kb.precompute.pattern_key`), and the knowledge base lists every wildcard mask
(shape) its patterns have. For one text position and one shape the text gives exactly
one key, so matching a position is one dictionary lookup per shape. Shapes are tried
longest first, then with exact tokens nearest the firing token first, and a neuron's
first match wins: N2G's prediction rule (`n2g_kb.n2g.trie.Trie.predict`), the same
answers as cypher/query/fire.cypher.

The table of a model (or of all models) is built from the database once per knowledge
base version (`KnowledgeBase.version`, bumped by every neuron write), kept in memory
and cached on disk under ``<cache dir>/matchers``; a later process whose database has
the same id and version loads the file instead of reading the tries again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from n2g_kb.kb.memcache import default_cache_dir, load_state, load_versioned, save_state
from n2g_kb.kb.precompute import SEPARATOR, WILDCARD, escape
from n2g_kb.n2g.trie import IGNORE, normalise_token

FORMAT = 2
COLUMNS = ["position", "token", "model", "layer", "neuron", "activation", "pattern"]


@dataclass
class Matcher:
    """The merged pattern table of one knowledge base version (of one model, or all)."""

    models: list[str]
    model_of: np.ndarray  # neuron slot -> index into models
    layers: np.ndarray
    indexes: np.ndarray
    keys: dict[str, int]  # pattern key -> slot in offsets
    offsets: np.ndarray  # slot k's matches are neurons[offsets[k]:offsets[k+1]]
    neurons: np.ndarray
    activations: np.ndarray
    shapes: list[str]  # longest first, then exact tokens nearest the firing token first
    kb_id: str | None = None
    version: int | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], kb_id: str | None = None, version: int | None = None) -> Matcher:
        """From pattern-end rows: model, layer, neuron, pkey, activation (end_activation)."""
        slot_of: dict[tuple[str, int, int], int] = {}
        models: list[str] = []
        model_index: dict[str, int] = {}
        neuron_keys: list[tuple[int, int, int]] = []
        by_key: dict[str, list[tuple[int, float]]] = {}
        shapes: set[str] = set()
        for row in rows:
            model = row["model"]
            if model not in model_index:
                model_index[model] = len(models)
                models.append(model)
            key3 = (model, int(row["layer"]), int(row["neuron"]))
            slot = slot_of.get(key3)
            if slot is None:
                slot = slot_of[key3] = len(neuron_keys)
                neuron_keys.append((model_index[model], key3[1], key3[2]))
            pkey = row["pkey"]
            by_key.setdefault(pkey, []).append((slot, float(row["activation"])))
            shapes.add(shape_of(pkey))
        table = np.array(neuron_keys, dtype=np.int64).reshape(-1, 3)
        keys: dict[str, int] = {}
        offsets = [0]
        ids: list[int] = []
        acts: list[float] = []
        for k, (pkey, matches) in enumerate(by_key.items()):
            keys[pkey] = k
            for slot, act in matches:
                ids.append(slot)
                acts.append(act)
            offsets.append(len(ids))
        return cls(
            models=models,
            model_of=table[:, 0].astype(np.int32),
            layers=table[:, 1].astype(np.int64),
            indexes=table[:, 2].astype(np.int64),
            keys=keys,
            offsets=np.array(offsets, dtype=np.int64),
            neurons=np.array(ids, dtype=np.int32),
            activations=np.array(acts, dtype=np.float64),
            shapes=sorted(shapes, key=lambda s: (-len(s), s)),
            kb_id=kb_id,
            version=version,
        )

    def __len__(self) -> int:
        return len(self.neurons)

    # ------------------------------------------------------------------------ matching

    def match(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per (position, neuron slot) the winning prediction: positions, slots,
        activations, shape numbers (into `shapes`). `tokens` are normalised."""
        text = [escape(t) for t in tokens]
        seen = np.zeros(len(self.model_of), dtype=bool)
        out_pos: list[np.ndarray] = []
        out_ids: list[np.ndarray] = []
        out_act: list[np.ndarray] = []
        out_shape: list[np.ndarray] = []
        plans = [(n, [i for i, m in enumerate(shape) if m == "0"], shape) for n, shape in enumerate(self.shapes)]
        for position in range(len(text)):
            touched: list[np.ndarray] = []
            for number, exact, shape in plans:
                if len(shape) > position + 1:
                    continue
                parts = [WILDCARD] * len(shape)
                for i in exact:
                    parts[i] = text[position - i]
                slot = self.keys.get(SEPARATOR.join(parts))
                if slot is None:
                    continue
                lo, hi = self.offsets[slot], self.offsets[slot + 1]
                ids = self.neurons[lo:hi]
                fresh = ~seen[ids]
                if not fresh.any():
                    continue
                ids = ids[fresh]
                seen[ids] = True
                touched.append(ids)
                out_pos.append(np.full(len(ids), position, dtype=np.int64))
                out_ids.append(ids)
                out_act.append(self.activations[lo:hi][fresh])
                out_shape.append(np.full(len(ids), number, dtype=np.int32))
            for ids in touched:
                seen[ids] = False
        if not out_ids:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.astype(np.int32), empty.astype(np.float64), empty.astype(np.int32)
        return np.concatenate(out_pos), np.concatenate(out_ids), np.concatenate(out_act), np.concatenate(out_shape)

    def _neuron_rank(self) -> np.ndarray:
        """Each neuron id's place in (model name, layer, index) order (computed once)."""
        rank = self.__dict__.get("_rank")
        if rank is None or len(rank) != len(self.model_of):
            by_name = np.argsort(np.argsort(np.array(self.models, dtype=object))) if self.models else np.zeros(0, dtype=np.int64)
            model_rank = by_name[self.model_of] if len(self.model_of) else self.model_of
            rank = np.empty(len(self.model_of), dtype=np.int64)
            rank[np.lexsort((self.indexes, self.layers, model_rank))] = np.arange(len(self.model_of))
            self.__dict__["_rank"] = rank
        return rank

    def fire(
        self,
        tokens: Sequence[str],
        *,
        min_activation: float = 0.5,
        model: str | None = None,
        layer: int | None = None,
    ) -> pd.DataFrame:
        """Rows as query/fire's (position, token, model, layer, neuron, activation, pattern),
        by position, then strongest first; `tokens` as the model writes them (normalised here)."""
        normalised = [normalise_token(t) for t in tokens]
        positions, ids, acts, shapes = self.match(normalised)
        keep = acts >= min_activation
        if model is not None:
            keep &= self.model_of[ids] == (self.models.index(model) if model in self.models else -1)
        if layer is not None:
            keep &= self.layers[ids] == layer
        positions, ids, acts, shapes = positions[keep], ids[keep], acts[keep], shapes[keep]
        model_of, layers, indexes = self.model_of[ids], self.layers[ids], self.indexes[ids]
        # position, then activation descending, then model name, layer, neuron
        order = np.lexsort((self._neuron_rank()[ids], -acts, positions))
        positions, acts, shapes = positions[order], acts[order], shapes[order]
        model_of, layers, indexes = model_of[order], layers[order], indexes[order]
        # a pattern depends on (position, shape) only: build each distinct one once
        codes = positions * len(self.shapes) + shapes
        distinct, inverse = np.unique(codes, return_inverse=True)
        built = np.empty(len(distinct), dtype=object)
        for k, code in enumerate(distinct.tolist()):
            p, shape = divmod(code, len(self.shapes))
            built[k] = [IGNORE if m == "1" else normalised[p - i] for i, m in enumerate(self.shapes[shape])][::-1]
        texts = np.empty(len(tokens), dtype=object)
        texts[:] = list(tokens)
        names = np.array(self.models, dtype=object)
        return pd.DataFrame(
            {
                "position": pd.array(positions, dtype="Int64"),
                "token": texts[positions],
                "model": names[model_of] if len(model_of) else np.array([], dtype=object),
                "layer": pd.array(layers, dtype="Int64"),
                "neuron": pd.array(indexes, dtype="Int64"),
                "activation": acts,
                "pattern": pd.Series(built[inverse.reshape(-1)] if len(inverse) else np.array([], dtype=object), dtype=object),
            },
            columns=COLUMNS,
        )

    # --------------------------------------------------------------------------- files

    def save(self, path: Path) -> None:
        """Writes the table atomically (a temporary file renamed into place)."""
        save_state(path, {
            "format": FORMAT,
            "kb_id": self.kb_id,
            "version": self.version,
            "models": self.models,
            "model_of": self.model_of,
            "layers": self.layers,
            "indexes": self.indexes,
            "keys": list(self.keys),
            "offsets": self.offsets,
            "neurons": self.neurons,
            "activations": self.activations,
            "shapes": self.shapes,
        })  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Matcher | None:
        """The table saved at `path`, or None when there is none or it cannot be read."""
        state = load_state(path, FORMAT)
        if state is None:
            return None
        keys = state.pop("keys")
        return cls(keys={k: i for i, k in enumerate(keys)}, **state)


def shape_of(pkey: str) -> str:
    """The wildcard mask of a pattern key ('1' where the part is the wildcard)."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in pkey:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return "".join("1" if p == WILDCARD else "0" for p in parts)


# ------------------------------------------------------------------- the cached door

_MEMORY: dict[tuple, Matcher] = {}


def load_matcher(
    store: Any, model: str | None = None, cache_dir: Path | None = None, state: tuple[Any, int] | None = None
) -> Matcher:
    """The matcher of `model` (None: every model) for the knowledge base's current
    version: from memory, else from the disk cache, else built from the database.
    `state`: the (id, version) the caller has just read (`Store.kb_state`), saving a read."""
    return load_versioned(
        store, model, kind="matcher", table=Matcher, memory=_MEMORY, directory=cache_dir or default_cache_dir(),
        build=lambda kb_id, version: Matcher.from_rows(store.pattern_ends(model), kb_id=kb_id, version=version),
        state=state,
    )  # fmt: skip
