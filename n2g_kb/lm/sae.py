"""Sparse autoencoders and transcoders in the SAELens on-disk format, read by a small loader of ours.

sae-lens itself requires transformer-lens < 4, so it cannot be installed beside us; this
module reads its format and computes only what N2G needs: the encoder output (the latent
activations) at the SAE's hook. A saved SAE is a directory holding

- `cfg.json`: `architecture`, `d_in`, `d_sae`, `apply_b_dec_to_input`,
  `normalize_activations`, `reshape_activations`, `k` (TopK), and the hook: `hook_name`
  inside `metadata` (sae-lens >= 6) or at the top level (older files, which may say
  `hook_point` and `activation_fn_str: "topk"` with `activation_fn_kwargs.k`);
- `sae_weights.safetensors`: `W_enc` [d_in, d_sae], `b_enc` [d_sae], `W_dec` [d_sae, d_out],
  `b_dec` [d_out], and `threshold` [d_sae] for JumpReLU.

Encoders (x is the hook's activation, flattened over heads for `hook_z`):
  pre = (norm(x) - b_dec * apply_b_dec_to_input) @ W_enc + b_enc
  standard / transcoder / skip_transcoder: relu(pre)
  jumprelu / jumprelu_transcoder:         relu(pre) * (pre > threshold)
  topk:                                    the k largest of pre (times |W_dec| rows when
                                           `rescale_acts_by_decoder_norm`), relu'd, rest 0
Transcoders read their input hook (e.g. `blocks.L.ln2.hook_normalized`) and never subtract
b_dec (it lives in the output space). `norm` is `constant_norm_rescale` (x * sqrt(d_in) /
|x|), `layer_norm`, or the identity (`none`, and `expected_average_only_in`, whose factor
SAELens folds into the weights of its releases).

`load_sae(source)` takes a local directory, or a Hugging Face repo with an optional folder
(`owner/repo` or `owner/repo/path/to/sae`) fetched with huggingface_hub.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from n2g_kb.errors import ModelError

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SAE_ARCHITECTURES = ("standard", "topk", "jumprelu", "transcoder", "skip_transcoder", "jumprelu_transcoder")
_TRANSCODERS = {"transcoder", "skip_transcoder", "jumprelu_transcoder"}
_LAYER = re.compile(r"(?:^|\.)blocks\.(\d+)\.")


class SAEError(ModelError):
    """An SAE or transcoder could not be loaded or is not supported."""


@dataclass(frozen=True)
class SAEConfig:
    """What N2G needs from an SAE's cfg.json (`raw` keeps the whole file)."""

    architecture: str
    d_in: int
    d_sae: int
    hook_name: str
    layer: int
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    k: int | None = None
    rescale_acts_by_decoder_norm: bool = False
    reshape_hook_z: bool = False
    model_name: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """'transcoder' for transcoders, else 'sae_latent'."""
        return "transcoder" if self.architecture in _TRANSCODERS else "sae_latent"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str) -> SAEConfig:
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        architecture = str(raw.get("architecture") or "standard")
        activation = raw.get("activation_fn_str") or raw.get("activation_fn")
        k = raw.get("k") or (raw.get("activation_fn_kwargs") or {}).get("k")
        if activation == "topk" and k is not None:
            architecture = "topk"  # files from before sae-lens 6
        if architecture not in SAE_ARCHITECTURES:
            raise SAEError(
                f"SAE {where} has architecture {architecture!r}, which n2g-kb does not read; "
                f"supported: {', '.join(SAE_ARCHITECTURES)}"
            )
        hook = meta.get("hook_name") or raw.get("hook_name") or raw.get("hook_point")
        if not hook:
            raise SAEError(f"SAE {where}: cfg.json names no hook (metadata.hook_name); cannot tell where it reads")
        if meta.get("hook_head_index") is not None or raw.get("hook_head_index") is not None:
            raise SAEError(f"SAE {where} reads one attention head (hook_head_index); n2g-kb reads whole hooks only")
        match = _LAYER.search(str(hook))
        layer = raw.get("hook_layer", meta.get("hook_layer"))
        if layer is None and match is None:
            raise SAEError(f"SAE {where}: cannot tell the layer of hook {hook!r}; expected blocks.<layer>.<hook>")
        try:
            d_in, d_sae = int(raw["d_in"]), int(raw["d_sae"])
        except (KeyError, TypeError, ValueError) as e:
            raise SAEError(f"SAE {where}: cfg.json lacks a numeric {e} (d_in and d_sae are required)") from None
        if architecture == "topk" and not k:
            raise SAEError(f"SAE {where} is a TopK SAE without k in cfg.json")
        normalize = raw.get("normalize_activations") or "none"
        if isinstance(normalize, bool):
            normalize = "expected_average_only_in" if normalize else "none"
        reshape = raw.get("reshape_activations") or ("hook_z" if str(hook).endswith("hook_z") else "none")
        return cls(
            architecture=architecture,
            d_in=d_in,
            d_sae=d_sae,
            hook_name=str(hook),
            layer=int(layer) if layer is not None else int(match.group(1)),  # type: ignore[union-attr]
            apply_b_dec_to_input=bool(raw.get("apply_b_dec_to_input", architecture not in _TRANSCODERS)),
            normalize_activations=str(normalize),
            k=int(k) if k else None,
            rescale_acts_by_decoder_norm=bool(raw.get("rescale_acts_by_decoder_norm", False)),
            reshape_hook_z=reshape == "hook_z",
            model_name=meta.get("model_name") or raw.get("model_name"),
            raw=dict(raw),
        )


class SAE:
    """An SAE's encoder: `encode(x, units)` gives latent activations at its hook."""

    def __init__(self, cfg: SAEConfig, weights: dict[str, Tensor], sae_id: str, where: str = "") -> None:
        self.cfg = cfg
        self.id = sae_id
        where = where or sae_id
        for name in ("W_enc", "b_enc"):
            if name not in weights:
                raise SAEError(f"SAE {where}: {WEIGHTS_FILE} has no {name}")
        self.W_enc = weights["W_enc"].float()
        self.b_enc = weights["b_enc"].float()
        if tuple(self.W_enc.shape) != (cfg.d_in, cfg.d_sae) or tuple(self.b_enc.shape) != (cfg.d_sae,):
            raise SAEError(
                f"SAE {where}: W_enc is {tuple(self.W_enc.shape)} and b_enc {tuple(self.b_enc.shape)}, but cfg.json "
                f"says d_in={cfg.d_in}, d_sae={cfg.d_sae}"
            )
        b_dec = weights.get("b_dec")
        self.b_dec = b_dec.float() if b_dec is not None else torch.zeros(cfg.d_in)
        if cfg.apply_b_dec_to_input and cfg.kind != "transcoder" and tuple(self.b_dec.shape) != (cfg.d_in,):
            raise SAEError(f"SAE {where}: b_dec has shape {tuple(self.b_dec.shape)}, expected ({cfg.d_in},)")
        self.threshold: Tensor | None = None
        if cfg.architecture.startswith("jumprelu"):
            if "threshold" in weights:
                self.threshold = weights["threshold"].float()
            elif "log_threshold" in weights:
                self.threshold = weights["log_threshold"].float().exp()
            else:
                raise SAEError(f"SAE {where} is a JumpReLU SAE but {WEIGHTS_FILE} has no threshold")
        self.decoder_norm: Tensor | None = None
        if cfg.rescale_acts_by_decoder_norm:
            if "W_dec" not in weights:
                raise SAEError(f"SAE {where} rescales by decoder norm but {WEIGHTS_FILE} has no W_dec")
            self.decoder_norm = weights["W_dec"].float().norm(dim=-1)

    def __repr__(self) -> str:
        c = self.cfg
        return f"SAE({self.id!r}, {c.architecture}, {c.hook_name}, d_in={c.d_in}, d_sae={c.d_sae})"

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def kind(self) -> str:
        return self.cfg.kind

    def to(self, device: str | torch.device) -> SAE:
        """Moves the weights (kept in float32) to `device`; returns self."""
        for name in ("W_enc", "b_enc", "b_dec", "threshold", "decoder_norm"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self

    def encode(
        self, x: Float[Tensor, "... d_in"], units: Tensor | None = None
    ) -> Float[Tensor, "... units"]:
        """Latent activations of `x` (computed in float32), all `d_sae` of them or only the
        latents `units` (a 1-D index tensor). TopK needs every pre-activation to rank them,
        so it encodes all latents and then selects; the others encode only `units`."""
        c = self.cfg
        if c.reshape_hook_z and x.dim() >= 2 and x.shape[-1] != c.d_in:
            x = x.flatten(-2)
        x = self._normalise(x.float())
        if c.apply_b_dec_to_input and c.kind != "transcoder":
            x = x - self.b_dec
        if c.architecture == "topk":
            pre = x @ self.W_enc + self.b_enc
            if self.decoder_norm is not None:
                pre = pre * self.decoder_norm
            top = torch.topk(pre, k=min(int(c.k or 1), pre.shape[-1]), dim=-1)
            acts = torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())
            return acts if units is None else acts.index_select(-1, units.to(acts.device))
        if units is None:
            pre = x @ self.W_enc + self.b_enc
            threshold = self.threshold
        else:
            units = units.to(self.W_enc.device)
            pre = x @ self.W_enc.index_select(1, units) + self.b_enc.index_select(0, units)
            threshold = None if self.threshold is None else self.threshold.index_select(0, units)
        acts = pre.relu()
        if threshold is not None:
            acts = acts * (pre > threshold)
        return acts

    def _normalise(self, x: Tensor) -> Tensor:
        mode = self.cfg.normalize_activations
        if mode == "constant_norm_rescale":
            return x * (math.sqrt(self.cfg.d_in) / x.norm(dim=-1, keepdim=True).clamp_min(1e-12))
        if mode == "layer_norm":
            centred = x - x.mean(dim=-1, keepdim=True)
            return centred / (centred.std(dim=-1, keepdim=True) + 1e-5)
        return x


def save_sae(directory: str | Path, cfg: dict[str, Any], weights: dict[str, Tensor]) -> Path:
    """Writes `cfg.json` and `sae_weights.safetensors` (the SAELens layout) to `directory`."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CFG_FILE).write_text(json.dumps(cfg, indent=2))
    save_file({k: v.detach().contiguous() for k, v in weights.items()}, str(directory / WEIGHTS_FILE))
    return directory


def load_sae(source: str, *, cache_dir: str | Path | None = None) -> SAE:
    """The SAE at `source`: a local directory in the SAELens layout, or a Hugging Face
    repo (`owner/repo`, or `owner/repo/folder/of/the/sae`) downloaded with
    huggingface_hub. Raises `SAEError` with what to do when it cannot be read."""
    source = source.strip()
    if not source:
        raise SAEError("--sae is empty; pass a local SAE directory (cfg.json + sae_weights.safetensors) or a hub repo")
    path = Path(source).expanduser()
    if path.exists() or source.startswith((".", "/", "~")):
        return _load_dir(path, sae_id=path.resolve().name, where=str(path))
    parts = source.split("/")
    if len(parts) < 2:
        raise SAEError(
            f"--sae {source!r} is neither a local directory nor a Hugging Face repo; SAELens release names need "
            "SAELens's release table, which n2g-kb does not ship: pass OWNER/REPO or OWNER/REPO/FOLDER, or a local directory"
        )
    return _load_dir(_download(parts, cache_dir), sae_id=source, where=source)


def _download(parts: list[str], cache_dir: str | Path | None) -> Path:
    repo, folder = "/".join(parts[:2]), "/".join(parts[2:])
    prefix = f"{folder}/" if folder else ""
    try:
        from huggingface_hub import snapshot_download

        root = snapshot_download(
            repo_id=repo,
            allow_patterns=[prefix + CFG_FILE, prefix + WEIGHTS_FILE],
            cache_dir=str(cache_dir) if cache_dir else None,
        )
    except Exception as e:  # offline, unknown repo, gated repo: one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SAEError(
            f"could not download SAE {'/'.join(parts)!r} from the Hugging Face hub ({reason[:160]}); check the repo "
            "and folder and that the hub is reachable, or pass a local directory with cfg.json and sae_weights.safetensors"
        ) from e
    return Path(root) / folder


def _load_dir(path: Path, *, sae_id: str, where: str) -> SAE:
    if not (path / CFG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise SAEError(
            f"{where} is not an SAE directory (it needs {CFG_FILE} and {WEIGHTS_FILE}, the SAELens layout)"
        )
    try:
        raw = json.loads((path / CFG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise SAEError(f"SAE {where}: {CFG_FILE} is not readable JSON ({e})") from e
    if not isinstance(raw, dict):
        raise SAEError(f"SAE {where}: {CFG_FILE} is not a JSON object")
    cfg = SAEConfig.from_dict(raw, where)
    try:
        from safetensors.torch import load_file

        weights = load_file(str(path / WEIGHTS_FILE), device="cpu")
    except Exception as e:  # a truncated or foreign file
        raise SAEError(f"SAE {where}: {WEIGHTS_FILE} is not a readable safetensors file ({type(e).__name__})") from e
    return SAE(cfg, weights, sae_id=sae_id, where=where)


__all__ = ["SAE", "SAEConfig", "SAEError", "SAE_ARCHITECTURES", "load_sae", "save_sae"]
