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

SAE latents and transcoder features: `LoadedModel.attach_sae(sae)` (an `n2g_kb.lm.sae.SAE`)
makes the model's units the SAE's latents: its one layer is the SAE's hook's layer, the
captured value is the SAE encoder's output at that hook, and `d_mlp` counts latents.
Everything built on `layer_activations` (mining, extraction, evaluation) then works on
latents unchanged.
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
DTYPE_CHOICES = (*_DTYPES, "auto")
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


def resolve_dtype(dtype: str, device: str, bf16_supported: bool | None = None) -> str:
    """The dtype to load in: `auto` is bfloat16 on a CUDA device that supports it (Ampere
    and later), else float32; any other name is checked and returned. Activations are
    always handed on in float32 (`batched_neuron_activations`, mining's scores), so a
    bfloat16 model changes the values only by its own rounding. `bf16_supported`
    overrides the device query (tests)."""
    if dtype == "auto":
        if not str(device).startswith("cuda"):
            return "float32"
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bfloat16" if bf16_supported else "float32"
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPE_CHOICES)}")
    return dtype


def tokens_for_memory(
    free_bytes: int,
    *,
    d_model: int,
    d_mlp: int,
    n_heads: int,
    width: int,
    captured_values: int,
    act_bytes: int,
    fraction: float = 0.5,
) -> int:
    """How many tokens (rows x width) one forward may hold in `fraction` of `free_bytes`.

    Per token a forward that stops at the target layer holds about: the residual stream
    with its normalised copy, attention input/output and the layer's output (6 x d_model),
    the MLP's hidden values (3 x d_mlp: gate, up and their product), one row of attention
    scores per head (n_heads x width), all in the model's dtype (`act_bytes`), plus the
    `captured_values` kept per token (captured units over all captured layers), twice in
    float32 (the capture and its float32 copy). At least one row of `width` is allowed.
    """
    per_token = act_bytes * (6 * d_model + 3 * d_mlp + n_heads * width) + 2 * 4 * captured_values
    return max(int(width), int(free_bytes * fraction) // max(1, per_token))


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
        self.sae: Any | None = None
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
        self.dtype: torch.dtype = _dtype_of(bridge)
        self.stats = ActivationStats()
        self._str_cache: dict[int, str] = {}
        self._hook_points = [bridge.hook_dict[self.hook_name(i)] for i in range(self.n_layers)]
        self.kind = "neuron"
        self.neurons_per_layer = self.d_mlp
        bridge.eval()

    def __repr__(self) -> str:
        return f"LoadedModel({self.name!r}, n_layers={self.n_layers}, d_mlp={self.d_mlp}, device={self.device!r})"

    # --- memory -------------------------------------------------------------------

    def free_memory(self) -> int | None:
        """Free bytes on the model's CUDA device, or None on other devices."""
        device = torch.device(self.device)
        if device.type != "cuda":
            return None
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)

    def tokens_that_fit(self, width: int, captured_values: int, free_bytes: int | None = None) -> int | None:
        """`tokens_for_memory` for this model with `free_bytes` (default: the device's
        free memory); None on devices whose memory is not queried (CPU)."""
        free = self.free_memory() if free_bytes is None else free_bytes
        if free is None:
            return None
        cfg = self.bridge.cfg
        return tokens_for_memory(
            free,
            d_model=int(getattr(cfg, "d_model", 0) or 0),
            d_mlp=int(self.neurons_per_layer),
            n_heads=int(getattr(cfg, "n_heads", 0) or 0),
            width=width,
            captured_values=captured_values,
            act_bytes=torch.finfo(self.dtype).bits // 8,
        )

    def batch_token_cap(self, batch_tokens: int, width: int = 128, free_bytes: int | None = None) -> int:
        """`batch_tokens`, lowered to what free GPU memory holds for one layer's units."""
        fit = self.tokens_that_fit(width, self.d_mlp, free_bytes)
        return batch_tokens if fit is None else max(width, min(batch_tokens, fit))

    def mining_batch(self, default: int, width: int, n_layers: int, free_bytes: int | None = None) -> int:
        """Windows per mining forward: `default` on CPU; on CUDA as many as free memory
        holds (every captured layer's units kept per token), between 16 and 1024."""
        fit = self.tokens_that_fit(width, n_layers * self.d_mlp, free_bytes)
        return default if fit is None else max(16, min(1024, fit // max(1, width)))

    # --- naming -------------------------------------------------------------------

    def hook_name(self, layer: int) -> str:
        """The TransformerLens hook that holds the units of `layer` (an attached SAE's hook)."""
        if self.sae is not None and layer == self.sae.cfg.layer:
            return self.sae.cfg.hook_name
        return self.hook_template.format(layer=layer)

    @property
    def sae_id(self) -> str | None:
        return None if self.sae is None else self.sae.id

    @property
    def layers(self) -> list[int]:
        """The layers that have units: all of them, or an attached SAE's one layer."""
        return [self.sae.cfg.layer] if self.sae is not None else list(range(self.n_layers))

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise ConfigError(f"layer {layer} is out of range; {self.name} has layers 0-{self.n_layers - 1}")
        if self.sae is not None and layer != self.sae.cfg.layer:
            raise ConfigError(
                f"SAE {self.sae.id} reads layer {self.sae.cfg.layer} ({self.sae.cfg.hook_name}); "
                f"its latents have no layer {layer}: use --layers {self.sae.cfg.layer}"
            )

    def attach_sae(self, sae: Any) -> None:
        """Makes the units of this model `sae`'s latents (see the module notes). Raises
        `ModelError` (an `SAEError`) when the model has no such hook or its width is not the
        SAE's `d_in`."""
        from n2g_kb.lm.sae import SAEError

        cfg = sae.cfg
        if cfg.hook_name not in self.bridge.hook_dict:
            raise SAEError(f"SAE {sae.id} reads hook {cfg.hook_name!r}, which {self.name} does not have")
        if not 0 <= cfg.layer < self.n_layers:
            raise SAEError(f"SAE {sae.id} reads layer {cfg.layer}, but {self.name} has layers 0-{self.n_layers - 1}")
        point = self.bridge.hook_dict[cfg.hook_name]
        width = self._probe_width(point)
        if width != cfg.d_in:
            raise SAEError(
                f"SAE {sae.id} expects {cfg.d_in} inputs at {cfg.hook_name}, but {self.name} has {width} there; "
                "it was trained on another model"
            )
        self.sae = sae.to(self.device)
        self.kind = sae.kind
        self.d_mlp = sae.d_sae
        self._hook_points[cfg.layer] = point

    def _probe_width(self, point: Any) -> int:
        """The width of what `point` carries (heads flattened), from a two-token forward."""
        seen: list[int] = []

        def hook(_module: Any, _inputs: Any, output: Tensor) -> None:
            seen.append(int(output.shape[-1]) * (int(output.shape[-2]) if output.dim() == 4 else 1))
            raise _StopForward

        handle = point.register_forward_hook(hook)
        try:
            with torch.inference_mode():
                self.bridge(torch.tensor([[self.bos_token_id] * 2], device=self.device), return_type=None)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not seen:
            raise ModelError(f"the forward pass of {self.name!r} never reached the SAE's hook")
        return seen[0]

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
        *,
        units: Int[Tensor, " unit"] | None = None,
    ) -> dict[int, Float[Tensor, "batch pos d_mlp"]]:
        """Unit activations of `layers`, running the model only up to the deepest of them.

        Right padding needs no mask in a causal model: padded positions come after every
        real one and cannot change it; just do not read them. `attention_mask` is passed
        through for callers that pad on the left. `units` (1-D indices) keeps only those
        units, in that order, in the last dimension; an attached SAE then encodes only them.
        """
        wanted = sorted(set(int(layer) for layer in layers))
        if not wanted:
            return {}
        for layer in wanted:
            self.check_layer(layer)
        deepest = wanted[-1]
        captured: dict[int, Tensor] = {}

        sae = self.sae
        keep = None if units is None else units.to(self.device)

        def capture(layer: int):
            def hook(_module: Any, _inputs: Any, output: Tensor) -> None:
                if sae is not None:
                    captured[layer] = sae.encode(output, keep)
                else:
                    captured[layer] = output if keep is None else output.index_select(-1, keep)
                if layer == deepest:
                    raise _StopForward

            return hook

        handles = [self._hook_points[layer].register_forward_hook(capture(layer)) for layer in wanted]
        tokens = to_device(tokens, self.device)
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
    batch_tokens = model.batch_token_cap(batch_tokens)
    done = 0
    pending: tuple[_HostCopy, list[int], np.ndarray] | None = None

    def finish(entry: tuple[_HostCopy, list[int], np.ndarray]) -> None:
        host, requests, row_lengths = entry
        began = time.perf_counter()
        gathered = host.numpy()
        model.stats.seconds += time.perf_counter() - began
        for r, i in enumerate(requests):
            results[i] = gathered[r, : row_lengths[r]]

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
        units, col_pos = torch.unique(torch.tensor(cols, dtype=torch.long), return_inverse=True)
        began = time.perf_counter()
        acts = model.layer_activations(torch.from_numpy(padded), [layer], units=units)[layer]
        index_rows = torch.tensor(rows, dtype=torch.long).to(acts.device, non_blocking=True)
        host = _HostCopy(acts[index_rows, :, col_pos.to(acts.device, non_blocking=True)].float())
        model.stats.seconds += time.perf_counter() - began
        # The device runs this batch while the previous one's results are unpacked here.
        if pending is not None:
            finish(pending)
        pending = (host, requests, lengths[members][rows])
        model.stats.real_tokens += int(lengths[members].sum())
        model.stats.rows += len(members)
        done += len(members)
        if on_batch is not None:
            on_batch(done, len(unique))
    if pending is not None:
        finish(pending)
    return results


class _HostCopy:
    """A device tensor on its way to the CPU. On CUDA the copy goes into pinned memory
    without blocking, so the next batch can be queued before this one is read; `numpy()`
    waits for it. Elsewhere it is a plain synchronous copy."""

    def __init__(self, tensor: Tensor) -> None:
        self._event = None
        if tensor.device.type == "cuda":
            self._host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            self._host.copy_(tensor, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host = tensor.cpu()

    def numpy(self) -> np.ndarray:
        if self._event is not None:
            self._event.synchronize()
        return self._host.numpy()


def to_device(tokens: Tensor, device: str | torch.device) -> Tensor:
    """`tokens` on `device`; a CPU tensor bound for CUDA goes through pinned memory with a
    non-blocking copy, so the host can prepare the next batch while it transfers."""
    device = torch.device(device)
    if device.type == "cuda" and tokens.device.type == "cpu":
        return tokens.pin_memory().to(device, non_blocking=True)
    return tokens.to(device)


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

    `device` defaults to the best available (`cuda`, else `cpu`); `dtype` is float32,
    float16, bfloat16 or auto (`resolve_dtype`: bfloat16 on a CUDA GPU that supports it,
    else float32). Pass `bridge` to wrap a
    TransformerBridge you booted yourself (nothing is loaded then). Raises `ModelError`
    with what to do when the model cannot be loaded or its MLP is not supported.
    """
    from n2g_kb.settings import check_device

    device = check_device(device) or best_device()
    dtype = resolve_dtype(dtype, device)
    if bridge is None:
        bridge = _boot(name_or_path, device, _DTYPES[dtype])
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


def _dtype_of(bridge: Any) -> torch.dtype:
    try:
        return next(bridge.parameters()).dtype
    except (StopIteration, AttributeError, TypeError):
        return torch.float32


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
    "DTYPE_CHOICES",
    "best_device",
    "load_model",
    "resolve_dtype",
    "to_device",
    "tokens_for_memory",
]
