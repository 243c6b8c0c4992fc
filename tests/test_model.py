"""Loading a model through the real path and reading its neuron activations fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from n2g_kb.errors import ConfigError, ModelError
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations, load_model
from n2g_kb.testing import build_tiny_gpt2


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_layers=3)


@pytest.fixture(scope="module")
def model(model_dir: Path) -> LoadedModel:
    return load_model(str(model_dir), device="cpu")


def random_sequences(model: LoadedModel, n: int, seed: int = 0) -> tuple[list[list[int]], list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 30, (n,), generator=g).tolist()
    vocab = len(model.tokenizer)
    sequences = [torch.randint(0, vocab, (length,), generator=g).tolist() for length in lengths]
    neurons = torch.randint(0, model.d_mlp, (n,), generator=g).tolist()
    return sequences, neurons


def test_a_model_saved_to_a_directory_loads_through_the_real_path(model: LoadedModel, model_dir: Path) -> None:
    assert model.name == str(model_dir)
    assert (model.n_layers, model.d_mlp, model.device) == (3, 256, "cpu")
    assert model.hook_name(2) == "blocks.2.mlp.hook_post"
    assert model.bos_token_id == model.tokenizer.convert_tokens_to_ids("<|endoftext|>")


def test_a_missing_model_directory_is_a_model_error_that_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model directory.*save_pretrained"):
        load_model(str(tmp_path / "no-such-model"), device="cpu")


def test_a_directory_without_weights_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ModelError, match="could not load model"):
        load_model(str(tmp_path), device="cpu")


def test_an_unknown_dtype_is_a_config_error(model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="dtype 'float8'"):
        load_model(str(model_dir), dtype="float8")


def test_tokens_decode_one_by_one_exactly_as_the_tokenizer_does(model: LoadedModel) -> None:
    ids = model.to_tokens("Alice went to Paris.", prepend_bos=True)
    assert ids[0] == model.bos_token_id
    tokens = model.to_str_tokens(ids)
    assert tokens == [model.tokenizer.decode([i]) for i in ids]
    assert tokens[0] == "<|endoftext|>" and " Paris" in tokens
    assert "".join(tokens[1:]) == "Alice went to Paris."
    assert model.to_tokens_batch(["Alice went to Paris."], prepend_bos=True) == [ids]


def test_gpt2_without_a_pad_token_masks_with_endoftext(model: LoadedModel, model_dir: Path) -> None:
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(model_dir).pad_token_id is None
    assert model.mask_token_id == model.bos_token_id
    assert model.to_str_tokens([model.mask_token_id]) == ["<|endoftext|>"]


def test_the_mask_token_can_be_chosen_at_load_time(model_dir: Path) -> None:
    assert load_model(str(model_dir), device="cpu", mask_token_id=1).mask_token_id == 1


def test_layer_activations_equal_the_hook_values_of_a_full_forward(model: LoadedModel) -> None:
    tokens = torch.tensor([model.to_tokens("Bob paid $12 for the box. The cat sat.", prepend_bos=True)])
    captured = model.layer_activations(tokens, [0, 2])
    with torch.inference_mode():
        _, cache = model.bridge.run_with_cache(tokens)
    for layer in (0, 2):
        expected = cache[model.hook_name(layer)]
        assert captured[layer].shape == (1, tokens.shape[1], model.d_mlp)
        torch.testing.assert_close(captured[layer], expected, rtol=0, atol=1e-6)


def test_layer_activations_stop_after_the_deepest_requested_layer(model: LoadedModel) -> None:
    reached: list[str] = []
    later = model.bridge.hook_dict["blocks.1.hook_out"]
    handle = later.register_forward_hook(lambda *_: reached.append("blocks.1"))
    try:
        model.layer_activations(torch.tensor([[1, 2, 3]]), [0])
        assert reached == []
        model.layer_activations(torch.tensor([[1, 2, 3]]), [0, 2])
        assert reached == ["blocks.1"]
    finally:
        handle.remove()


def test_an_out_of_range_layer_is_a_config_error(model: LoadedModel) -> None:
    with pytest.raises(ConfigError, match="layer 3 is out of range"):
        model.layer_activations(torch.tensor([[1, 2]]), [3])


def test_neuron_activations_gather_each_rows_own_neuron(model: LoadedModel) -> None:
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    full = model.layer_activations(tokens, [1])[1]
    picked = model.neuron_activations(tokens, 1, torch.tensor([3, 200]))
    torch.testing.assert_close(picked, torch.stack([full[0, :, 3], full[1, :, 200]]))


def test_right_padded_batches_give_the_same_activations_as_single_sequences(model: LoadedModel) -> None:
    sequences, neurons = random_sequences(model, 40)
    batched = batched_neuron_activations(model, 1, sequences, neurons, batch_tokens=256, max_batch_rows=16)
    for seq, neuron, acts in zip(sequences, neurons, batched):
        single = model.neuron_activations(torch.tensor([seq]), 1, torch.tensor([neuron]))[0].numpy()
        assert acts.shape == (len(seq),)
        np.testing.assert_allclose(acts, single, rtol=0, atol=1e-5)


def test_identical_sequences_run_once_for_every_neuron_that_asks(model: LoadedModel) -> None:
    seq = model.to_tokens("The dog ran.", prepend_bos=True)
    model.stats.reset()
    acts = batched_neuron_activations(model, 0, [seq, seq, seq], [1, 2, 1])
    assert model.stats.real_tokens == len(seq)
    assert model.stats.requested_tokens == 3 * len(seq)
    full = model.layer_activations(torch.tensor([seq]), [0])[0][0]
    np.testing.assert_allclose(acts[1], full[:, 2].numpy(), atol=1e-6)
    np.testing.assert_array_equal(acts[0], acts[2])


def test_batches_respect_the_token_budget(model: LoadedModel) -> None:
    sequences, neurons = random_sequences(model, 30, seed=1)
    model.stats.reset()
    batched_neuron_activations(model, 0, sequences, neurons, batch_tokens=64, max_batch_rows=4)
    assert model.stats.forward_calls >= len(set(map(tuple, sequences))) / 4
    assert model.stats.padded_tokens <= 64 * model.stats.forward_calls


def test_solu_ln_models_read_the_activation_before_the_mlp_layernorm(model: LoadedModel) -> None:
    from transformer_lens.model_bridge import TransformerBridge

    cfg = {
        "d_model": 32,
        "d_head": 8,
        "n_heads": 4,
        "n_layers": 2,
        "n_ctx": 32,
        "d_vocab": len(model.tokenizer),
        "act_fn": "solu_ln",
        "d_mlp": 64,
        "normalization_type": "LN",
        "seed": 0,
    }
    solu = load_model("native-solu", bridge=TransformerBridge.boot_native(cfg, tokenizer=model.tokenizer))
    assert solu.hook_name(1) == "blocks.1.mlp.ln.hook_in"
    tokens = torch.tensor([[0, 5, 6, 7]])
    pre: dict[str, torch.Tensor] = {}
    hook = solu.bridge.hook_dict["blocks.0.mlp.in.hook_out"]
    handle = hook.register_forward_hook(lambda _m, _i, out: pre.setdefault("x", out))
    try:
        acts = solu.layer_activations(tokens, [0])[0]
    finally:
        handle.remove()
    x = pre["x"]
    torch.testing.assert_close(acts, x * torch.softmax(x, dim=-1))


def test_a_native_gated_mlp_reads_the_down_projection_input(model: LoadedModel) -> None:
    from transformer_lens.model_bridge import TransformerBridge

    cfg = {
        "d_model": 32,
        "d_head": 8,
        "n_heads": 4,
        "n_layers": 1,
        "n_ctx": 32,
        "d_vocab": len(model.tokenizer),
        "act_fn": "silu",
        "gated_mlp": True,
        "d_mlp": 64,
        "normalization_type": "RMS",
        "seed": 0,
    }
    gated = load_model("native-gated", bridge=TransformerBridge.boot_native(cfg, tokenizer=model.tokenizer))
    assert gated.hook_name(0) == "blocks.0.mlp.hook_post"
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        gated.bridge.hook_dict[name].register_forward_hook(lambda _m, _i, out, name=name: seen.setdefault(name, out))
        for name in ("blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_pre_linear")
    ]
    try:
        acts = gated.layer_activations(torch.tensor([[0, 5, 6, 7]]), [0])[0]
    finally:
        for h in hooks:
            h.remove()
    # the native block fires its gate/up hooks: the neuron is silu(gate) * up
    gate, up = seen["blocks.0.mlp.hook_pre"], seen["blocks.0.mlp.hook_pre_linear"]
    torch.testing.assert_close(acts, torch.nn.functional.silu(gate) * up)
    assert acts.shape == (1, 4, 64)
