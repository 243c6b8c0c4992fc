"""SAEs and transcoders in the SAELens layout: our loader, its encoders, and latents as units.

A tiny SAE of each architecture is trained in-process on the tiny model's activations and
written in the SAELens layout (cfg.json + sae_weights.safetensors); the latents the model
captures are checked against the encoder written out by hand from the saved weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from n2g_kb.errors import ConfigError
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations, load_model
from n2g_kb.lm.sae import SAEError, load_sae, save_sae
from n2g_kb.testing import build_tiny_gpt2, hook_values, synthetic_corpus, train_tiny_sae

HOOKS = {
    "standard": "blocks.1.hook_resid_post",
    "topk": "blocks.1.hook_resid_mid",
    "jumprelu": "blocks.0.hook_resid_post",
    "transcoder": "blocks.1.ln2.hook_normalized",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", corpus=synthetic_corpus(300), d_mlp=64, d_model=32)


@pytest.fixture(scope="module")
def base(model_dir) -> LoadedModel:
    return load_model(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def sae_dirs(base, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saes")
    return {arch: train_tiny_sae(base, root / arch, hook=hook, architecture=arch, k=4) for arch, hook in HOOKS.items()}


def _with(model_dir: Path, sae_dir: Path) -> LoadedModel:
    model = load_model(str(model_dir), device="cpu")
    model.attach_sae(load_sae(str(sae_dir)))
    return model


def _by_hand(arch: str, w: dict[str, torch.Tensor], x: torch.Tensor, k: int = 4) -> torch.Tensor:
    if arch == "transcoder":
        pre = x @ w["W_enc"] + w["b_enc"]
    else:
        pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    if arch == "topk":
        out = torch.zeros_like(pre)
        values, indices = pre.topk(k, dim=-1)
        return out.scatter(-1, indices, values.clamp_min(0))
    if arch == "jumprelu":
        return torch.where(pre > w["threshold"], pre, torch.zeros_like(pre)).clamp_min(0)
    return pre.clamp_min(0)


@pytest.mark.parametrize("arch", list(HOOKS))
def test_captured_latents_are_the_encoder_written_out_by_hand(arch, model_dir, sae_dirs) -> None:
    model = _with(model_dir, sae_dirs[arch])
    layer = int(HOOKS[arch].split(".")[1])
    assert model.sae.cfg.architecture == arch and model.layers == [layer]
    assert model.kind == ("transcoder" if arch == "transcoder" else "sae_latent")
    assert model.d_mlp == 64 and model.hook_name(layer) == HOOKS[arch]
    texts = ["Alice went to Paris on Monday.", "The cat sat on the mat."]
    tokens = torch.tensor([model.to_tokens(t, prepend_bos=True)[:8] for t in texts])
    latents = model.layer_activations(tokens, [layer])[layer]
    raw = {}
    handle = model.bridge.hook_dict[HOOKS[arch]].register_forward_hook(lambda _m, _i, out: raw.setdefault("x", out))
    try:
        with torch.inference_mode():
            model.bridge(tokens, return_type=None)
    finally:
        handle.remove()
    expected = _by_hand(arch, load_file(str(sae_dirs[arch] / "sae_weights.safetensors")), raw["x"])
    torch.testing.assert_close(latents, expected, rtol=1e-5, atol=1e-5)
    assert (latents > 0).any(), "the trained SAE should have live latents on real text"
    if arch == "topk":
        assert int((latents > 0).sum(-1).max()) <= 4


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu"])
def test_asking_for_some_latents_gives_exactly_those_columns(arch, model_dir, sae_dirs) -> None:
    model = _with(model_dir, sae_dirs[arch])
    layer = model.layers[0]
    tokens = torch.tensor([model.to_tokens("Bob paid $12 for the box.", prepend_bos=True)])
    full = model.layer_activations(tokens, [layer])[layer]
    units = torch.tensor([9, 2, 40])
    torch.testing.assert_close(model.layer_activations(tokens, [layer], units=units)[layer], full[..., units])
    seqs = [model.to_tokens("The cat sat.", prepend_bos=True), tokens[0].tolist()]
    got = batched_neuron_activations(model, layer, seqs, [40, 2])
    np.testing.assert_allclose(got[1], full[0, :, 2].numpy(), rtol=1e-5, atol=1e-6)


def test_a_trained_sae_reconstructs_better_than_the_mean(base, sae_dirs) -> None:
    w = load_file(str(sae_dirs["standard"] / "sae_weights.safetensors"))
    x = hook_values(base, HOOKS["standard"], synthetic_corpus(100, seed=9))
    recon = _by_hand("standard", w, x) @ w["W_dec"] + w["b_dec"]
    assert ((recon - x) ** 2).mean() < 0.5 * ((x - x.mean(0)) ** 2).mean()


def test_a_file_from_before_sae_lens_6_is_read_with_its_old_keys(sae_dirs, tmp_path) -> None:
    cfg = json.loads((sae_dirs["topk"] / "cfg.json").read_text())
    old = {
        "d_in": cfg["d_in"], "d_sae": cfg["d_sae"], "hook_point": cfg["metadata"]["hook_name"], "hook_point_layer": 1,
        "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 4}, "apply_b_dec_to_input": True,
        "normalize_activations": False, "model_name": "tiny",
    }  # fmt: skip
    path = save_sae(tmp_path / "old", old, load_file(str(sae_dirs["topk"] / "sae_weights.safetensors")))
    sae = load_sae(str(path))
    assert (sae.cfg.architecture, sae.cfg.k, sae.cfg.layer, sae.cfg.hook_name) == ("topk", 4, 1, "blocks.1.hook_resid_mid")
    assert sae.id == "old" and sae.cfg.normalize_activations == "none"


def test_normalising_by_constant_norm_rescales_every_input_to_root_d_in(sae_dirs, tmp_path) -> None:
    cfg = json.loads((sae_dirs["standard"] / "cfg.json").read_text()) | {"normalize_activations": "constant_norm_rescale"}
    weights = load_file(str(sae_dirs["standard"] / "sae_weights.safetensors"))
    sae = load_sae(str(save_sae(tmp_path / "norm", cfg, weights)))
    x = torch.randn(5, cfg["d_in"])
    scaled = x * (cfg["d_in"] ** 0.5) / x.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(sae.encode(x), _by_hand("standard", weights, scaled))
    torch.testing.assert_close(sae.encode(3 * x), sae.encode(x))


def _error(source: str) -> str:
    with pytest.raises(SAEError) as info:
        load_sae(source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_directory_without_the_saelens_files_is_one_line(tmp_path) -> None:
    assert "is not an SAE directory (it needs cfg.json and sae_weights.safetensors" in _error(str(tmp_path))


def test_an_architecture_we_do_not_read_names_the_ones_we_do(sae_dirs, tmp_path) -> None:
    cfg = json.loads((sae_dirs["standard"] / "cfg.json").read_text()) | {"architecture": "gated"}
    path = save_sae(tmp_path / "gated", cfg, load_file(str(sae_dirs["standard"] / "sae_weights.safetensors")))
    assert "architecture 'gated', which n2g-kb does not read; supported: standard, topk, jumprelu" in _error(str(path))


def test_weights_that_do_not_match_the_config_are_one_line(sae_dirs, tmp_path) -> None:
    cfg = json.loads((sae_dirs["standard"] / "cfg.json").read_text()) | {"d_sae": 65}
    path = save_sae(tmp_path / "bad", cfg, load_file(str(sae_dirs["standard"] / "sae_weights.safetensors")))
    assert "W_enc is (32, 64) and b_enc (64,), but cfg.json says d_in=32, d_sae=65" in _error(str(path))


def test_an_sae_for_another_width_or_hook_is_refused_when_attached(base, sae_dirs, tmp_path) -> None:
    cfg = json.loads((sae_dirs["standard"] / "cfg.json").read_text())
    weights = load_file(str(sae_dirs["standard"] / "sae_weights.safetensors"))
    cfg["metadata"] = cfg["metadata"] | {"hook_name": "blocks.1.mlp.hook_post"}  # 64 wide, the SAE reads 32
    with pytest.raises(SAEError, match="expects 32 inputs at blocks.1.mlp.hook_post, but .* has 64 there"):
        base.attach_sae(load_sae(str(save_sae(tmp_path / "w", cfg, weights))))
    cfg["metadata"] = cfg["metadata"] | {"hook_name": "blocks.7.hook_resid_post"}
    with pytest.raises(SAEError, match="reads hook 'blocks.7.hook_resid_post', which .* does not have"):
        base.attach_sae(load_sae(str(save_sae(tmp_path / "h", cfg, weights))))
    assert base.sae is None and base.d_mlp == 64  # a refused SAE leaves the model as it was


def test_latents_live_in_the_saes_layer_only(model_dir, sae_dirs) -> None:
    model = _with(model_dir, sae_dirs["jumprelu"])
    with pytest.raises(ConfigError, match="reads layer 0 .*use --layers 0"):
        model.check_layer(1)


def test_a_hub_sae_offline_is_one_line_that_says_what_to_do(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    message = _error("some-org/some-saes/blocks.8.hook_resid_pre")
    assert message.startswith("could not download SAE 'some-org/some-saes/blocks.8.hook_resid_pre' from the Hugging Face hub")
    assert "or pass a local directory with cfg.json and sae_weights.safetensors" in message


def test_a_bare_release_name_says_releases_need_saelens(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "SAELens release names need SAELens's release table" in _error("gpt2-small-res-jb")
