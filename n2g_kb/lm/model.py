"""One door to the language model: load it, tokenise, and read MLP neuron activations fast.

`load_model` boots a HuggingFace model (hub name or a local `save_pretrained` directory)
through TransformerLens 4's `TransformerBridge` and wraps it in a `LoadedModel`. Tests and
benches inject a model built in-process by passing the same kind of directory (see
`n2g_kb.testing`) or an already-booted bridge.

The fast primitive is `LoadedModel.layer_activations`: a forward pass that captures the
neuron activations of the requested layers and stops as soon as the deepest one is
captured, so layers above it are never computed. `batched_neuron_activations` builds on
it: it takes many (token sequence, neuron) requests, runs each distinct sequence once in
length-sorted, right-padded batches and returns every request's activations over its own
real positions only.

Which activation is "the neuron": the input of the MLP's down (output) projection,
TransformerLens hook `blocks.{layer}.mlp.hook_post` (the bridge's `mlp.out.hook_in`). For
GELU/ReLU-style MLPs (GPT-2, GPT-NeoX/Pythia, GPT-J) that is act(W_in x); for gated MLPs
(Llama, Mistral, Qwen2, Gemma/Gemma 2, OLMo) it is act(gate_proj x) * up_proj x. SoLU-LN
models (the paper's SoLU-6L) use the post-SoLU, pre-LayerNorm value, HookedTransformer's
`mlp.hook_mid`, which the bridge exposes as `blocks.{layer}.mlp.ln.hook_in`.
Mixture-of-experts MLPs and models without an MLP (Mamba, ...) are refused with one line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from n2g_kb.errors import ConfigError, ModelError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_ELEMENTWISE_ACTIVATIONS = {
    "gelu",
    "gelu_new",
    "gelu_fast",
    "gelu_pytorch_tanh",
    "quick_gelu",
    "relu",
    "silu",
    "swish",
    "solu",
}
_LEGACY_PREFIXES = ("NeelNanda/", "ArthurConmy/", "Baidicoot/")
SUPPORTED_ARCHITECTURES = "GPT-2, GPT-NeoX/Pythia, GPT-J, Llama, Mistral, Qwen2, Gemma/Gemma 2, OLMo, SoLU"


class _StopForward(Exception):
    """Raised from a hook once the deepest requested layer is captured."""


def best_device() -> str:
    """`cuda` when a GPU is visible, else `cpu`."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class ActivationStats:
    """Work done through the model, for benchmarks.

    `padded_tokens`: positions fed to the model (rows x width); `real_tokens`: the distinct
    sequences' own positions; `requested_tokens`: positions asked for before identical
    sequences were merged; `rows`: sequences run; `seconds`: wall time of the model calls
    in `batched_neuron_activations` (forward, gather, and the copy back to the CPU, which
    waits for the device), not counting the building of the padded batches.
    """

    forward_calls: int = 0
    padded_tokens: int = 0
    real_tokens: int = 0
    requested_tokens: int = 0
    rows: int = 0
    seconds: float = 0.0

    def reset(self) -> None:
        self.forward_calls = self.padded_tokens = self.real_tokens = self.requested_tokens = self.rows = 0
        self.seconds = 0.0


class LoadedModel:
    """A booted `TransformerBridge` plus what N2G needs to know about it.

    Attributes: `name`, `n_layers`, `d_mlp`, `n_ctx`, `device`, `act_fn`, `bos_token_id`,
    `mask_token_id` (the token saliency masks with: the tokenizer's pad token when it has
    one, else `<|endoftext|>`/EOS; the reference hard-codes id 1, which is the pad token of
    the SoLU models' tokenizer but an ordinary token ('"') in GPT-2's), `pad_token_id`
    (fills right padding; never read back) and `stats`.
    """

    def __init__(self, bridge: Any, name: str, *, mask_token_id: int | None = None) -> None:
        self.bridge = bridge
        self.name = name
        cfg = bridge.cfg
        self.n_layers: int = int(cfg.n_layers)
        self.d_mlp: int = int(cfg.d_mlp or 0)
        self.n_ctx: int = int(getattr(cfg, "n_ctx", 0) or 0) or 1024
        self.act_fn: str = str(getattr(cfg, "act_fn", "") or "").lower()
        self.hook_template = _hook_template(cfg, self.act_fn, name)
        missing = [self.hook_name(i) for i in range(self.n_layers) if self.hook_name(i) not in bridge.hook_dict]
        if missing:
            raise ModelError(
                f"model {name!r} has no activation hook {missing[0]!r}; its MLP layout is not supported "
                f"(architecture {_architecture(bridge)}; supported: {SUPPORTED_ARCHITECTURES})"
            )
        tokenizer = getattr(bridge, "tokenizer", None)
        if tokenizer is None:
            raise ModelError(f"model {name!r} has no tokenizer; save one next to the weights (tokenizer.json)")
        self.tokenizer = tokenizer
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if bos is None:
            raise ModelError(f"the tokenizer of {name!r} has neither a BOS nor an EOS token; N2G needs one")
        self.bos_token_id: int = int(bos)
        pad = tokenizer.pad_token_id
        self.pad_token_id: int = int(pad) if pad is not None else self.bos_token_id
        self.mask_token_id: int = int(mask_token_id) if mask_token_id is not None else self.pad_token_id
        self.device = str(cfg.device) if getattr(cfg, "device", None) is not None else "cpu"
        self.stats = ActivationStats()
        self._str_cache: dict[int, str] = {}
        self._hook_points = [bridge.hook_dict[self.hook_name(i)] for i in range(self.n_layers)]
        bridge.eval()

    def __repr__(self) -> str:
        return f"LoadedModel({self.name!r}, n_layers={self.n_layers}, d_mlp={self.d_mlp}, device={self.device!r})"

    # --- naming -------------------------------------------------------------------

    def hook_name(self, layer: int) -> str:
        """The TransformerLens hook that holds the neurons of `layer`."""
        return self.hook_template.format(layer=layer)

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise ConfigError(f"layer {layer} is out of range; {self.name} has layers 0-{self.n_layers - 1}")

    # --- tokenizer helpers ----------------------------------------------------------

    def to_tokens(self, text: str, prepend_bos: bool = False) -> list[int]:
        """Token ids of `text` (no special tokens added unless `prepend_bos`)."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return [self.bos_token_id, *ids] if prepend_bos else ids

    def to_tokens_batch(self, texts: Sequence[str], prepend_bos: bool = False) -> list[list[int]]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [[self.bos_token_id, *ids] if prepend_bos else list(ids) for ids in encoded]

    def to_str_tokens(self, ids: Sequence[int]) -> list[str]:
        """Each token decoded on its own (e.g. ' Paris'); byte pieces as hex (`n2g_kb.lm.tokens`)."""
        missing = sorted({int(i) for i in ids if int(i) not in self._str_cache})
        if missing:
            from n2g_kb.lm.tokens import token_strings

            self._str_cache.update(zip(missing, token_strings(self.tokenizer, missing)))
        return [self._str_cache[int(i)] for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)

    # --- activations ----------------------------------------------------------------

    def layer_activations(
        self,
        tokens: Int[Tensor, "batch pos"],
        layers: Sequence[int],
        attention_mask: Int[Tensor, "batch pos"] | None = None,
    ) -> dict[int, Float[Tensor, "batch pos d_mlp"]]:
        """Neuron activations of `layers`, running the model only up to the deepest of them.

        Right padding needs no mask in a causal model: padded positions come after every
        real one and cannot change it; just do not read them. `attention_mask` is passed
        through for callers that pad on the left.
        """
        wanted = sorted(set(int(layer) for layer in layers))
        if not wanted:
            return {}
        for layer in wanted:
            self.check_layer(layer)
        deepest = wanted[-1]
        captured: dict[int, Tensor] = {}

        def capture(layer: int):
            def hook(_module: Any, _inputs: Any, output: Tensor) -> None:
                captured[layer] = output
                if layer == deepest:
                    raise _StopForward

            return hook

        handles = [self._hook_points[layer].register_forward_hook(capture(layer)) for layer in wanted]
        tokens = tokens.to(self.device)
        kwargs: dict[str, Any] = {"return_type": None}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(self.device)
        try:
            with torch.inference_mode():
                self.bridge(tokens, **kwargs)
        except _StopForward:
            pass
        finally:
            for handle in handles:
                handle.remove()
        if deepest not in captured:
            raise ModelError(f"the forward pass of {self.name!r} never reached hook {self.hook_name(deepest)!r}")
        self.stats.forward_calls += 1
        self.stats.padded_tokens += int(tokens.numel())
        return captured

    def neuron_activations(
        self,
        tokens: Int[Tensor, "batch pos"],
        layer: int,
        neuron_idx: Int[Tensor, " batch"],
        attention_mask: Int[Tensor, "batch pos"] | None = None,
    ) -> Float[Tensor, "batch pos"]:
        """Each row's own neuron: row b gets neuron `neuron_idx[b]` of `layer` at every position."""
        acts = self.layer_activations(tokens, [layer], attention_mask)[layer]
        rows = torch.arange(acts.shape[0], device=acts.device)
        return acts[rows, :, neuron_idx.to(acts.device)]


def batched_neuron_activations(
    model: LoadedModel,
    layer: int,
    sequences: Sequence[Sequence[int] | np.ndarray],
    neurons: Sequence[int],
    *,
    batch_tokens: int = 32768,
    max_batch_rows: int = 1024,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Activations of `neurons[i]` on `sequences[i]`, for every i, as float32 arrays.

    Identical sequences run once whatever neurons ask for them. Distinct sequences run
    longest first in right-padded batches of at most `batch_tokens` padded tokens and
    `max_batch_rows` rows; each request reads only its sequence's real positions.
    Sequences longer than the model's context are cut to it. `on_batch(done, total)` is
    called after each batch with the distinct sequences run so far.
    """
    if len(sequences) != len(neurons):
        raise ValueError(f"{len(sequences)} sequences but {len(neurons)} neurons")
    empty = np.zeros(0, dtype=np.float32)
    results: list[np.ndarray] = [empty] * len(sequences)
    slot: dict[bytes, int] = {}
    unique: list[np.ndarray] = []
    owners: list[list[int]] = []
    for i, seq in enumerate(sequences):
        arr = np.asarray(seq, dtype=np.int64)[: model.n_ctx]
        if arr.size == 0:
            continue
        key = arr.tobytes()
        u = slot.get(key)
        if u is None:
            u = slot[key] = len(unique)
            unique.append(arr)
            owners.append([])
        owners[u].append(i)
        model.stats.requested_tokens += arr.size
    lengths = np.array([a.size for a in unique], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    done = 0
    for lo, hi in _pack(lengths[order], batch_tokens, max_batch_rows):
        members = order[lo:hi]
        width = int(lengths[members[0]])
        padded = np.full((len(members), width), model.pad_token_id, dtype=np.int64)
        rows: list[int] = []
        cols: list[int] = []
        requests: list[int] = []
        for b, u in enumerate(members.tolist()):
            padded[b, : lengths[u]] = unique[u]
            for i in owners[u]:
                rows.append(b)
                cols.append(int(neurons[i]))
                requests.append(i)
        began = time.perf_counter()
        acts = model.layer_activations(torch.from_numpy(padded), [layer])[layer]
        index_rows = torch.tensor(rows, device=acts.device)
        index_cols = torch.tensor(cols, device=acts.device)
        gathered = acts[index_rows, :, index_cols].float().cpu().numpy()
        model.stats.seconds += time.perf_counter() - began
        row_lengths = lengths[members][rows]
        for r, i in enumerate(requests):
            results[i] = gathered[r, : row_lengths[r]]
        model.stats.real_tokens += int(lengths[members].sum())
        model.stats.rows += len(members)
        done += len(members)
        if on_batch is not None:
            on_batch(done, len(unique))
    return results


def _pack(lengths: np.ndarray, batch_tokens: int, max_rows: int) -> Iterator[tuple[int, int]]:
    """Greedy batches over `lengths` sorted longest first, as (start, end) index pairs,
    within the padded-token budget.

    A batch that already holds a sixteenth of the budget is also closed when the next
    sequence is under 3/4 of its width, so short sequences are not padded to long ones.
    """
    start = 0
    n = len(lengths)
    while start < n:
        width = int(lengths[start])
        end = start + 1
        while end < n:
            rows = end - start
            full = (rows + 1) * width > batch_tokens or rows >= max_rows
            ragged = lengths[end] < 0.75 * width and rows * width >= batch_tokens // 16
            if full or ragged:
                break
            end += 1
        yield start, end
        start = end


def load_model(
    name_or_path: str,
    device: str | None = None,
    dtype: str = "float32",
    *,
    mask_token_id: int | None = None,
    bridge: Any | None = None,
) -> LoadedModel:
    """Load a model by HuggingFace name or local `save_pretrained` directory.

    `device` defaults to the best available (`cuda`, else `cpu`). Pass `bridge` to wrap a
    TransformerBridge you booted yourself (nothing is loaded then). Raises `ModelError`
    with what to do when the model cannot be loaded or its MLP is not supported.
    """
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; use one of {', '.join(_DTYPES)}")
    if bridge is None:
        bridge = _boot(name_or_path, device or best_device(), _DTYPES[dtype])
    return LoadedModel(bridge, name_or_path, mask_token_id=mask_token_id)


def _boot(name_or_path: str, device: str, dtype: torch.dtype) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    path = Path(name_or_path).expanduser()
    local = path.exists() or name_or_path.startswith((".", "/", "~"))
    if local and not (path / "config.json").is_file():
        raise ModelError(
            f"{name_or_path} is not a model directory (no config.json); pass a HuggingFace model name "
            "or a directory written by save_pretrained"
        )
    try:
        with _quiet_transformers():
            if not local and name_or_path.startswith(_LEGACY_PREFIXES):
                return TransformerBridge.boot_tl_legacy(name_or_path, device=device, dtype=dtype)
            return TransformerBridge.boot_transformers(str(path) if local else name_or_path, device=device, dtype=dtype)
    except Exception as e:  # any loader failure becomes one actionable line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Could not determine supported architecture" in reason:
            raise ModelError(
                f"model {name_or_path!r} has an architecture TransformerLens's TransformerBridge cannot load "
                f"({_config_architecture(path if local else None) or 'unknown'}); N2G extraction supports "
                f"{SUPPORTED_ARCHITECTURES}"
            ) from e
        raise ModelError(
            f"could not load model {name_or_path!r} ({reason[:200]}); check the name and that the hub "
            "is reachable, or pass a local directory written by save_pretrained"
        ) from e


def _config_architecture(path: Path | None) -> str | None:
    """The `architectures` entry of a local checkpoint's config.json, if readable."""
    if path is None:
        return None
    try:
        import json

        names = json.loads((path / "config.json").read_text()).get("architectures") or []
        return ", ".join(map(str, names)) or None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide the per-load weight progress bars of `transformers`."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _architecture(bridge: Any) -> str:
    cfg = getattr(bridge, "cfg", None)
    return str(getattr(cfg, "architecture", None) or getattr(cfg, "original_architecture", None) or type(bridge).__name__)


def _hook_template(cfg: Any, act_fn: str, name: str) -> str:
    experts = getattr(cfg, "num_experts", None) or getattr(cfg, "num_local_experts", None)
    if experts and int(experts) > 1:
        raise ModelError(
            f"model {name!r} has a mixture-of-experts MLP ({experts} experts); N2G extraction supports one "
            f"dense MLP per layer ({SUPPORTED_ARCHITECTURES})"
        )
    if act_fn == "solu_ln":
        return "blocks.{layer}.mlp.ln.hook_in"
    if act_fn in _ELEMENTWISE_ACTIVATIONS:
        return "blocks.{layer}.mlp.hook_post"
    raise ModelError(
        f"model {name!r} uses MLP activation {act_fn or 'unknown'!r}, which N2G extraction does not support; "
        f"use a model with one of {', '.join(sorted(_ELEMENTWISE_ACTIVATIONS | {'solu_ln'}))}"
    )


__all__ = [
    "ActivationStats",
    "LoadedModel",
    "batched_neuron_activations",
    "best_device",
    "load_model",
]
