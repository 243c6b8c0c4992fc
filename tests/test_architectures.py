"""Every supported MLP shape: the captured neuron is the input of the down projection.

Each test builds a tiny random model of one architecture from its `transformers` config,
saves it with a shared tokenizer, loads it through the real path (`load_model` ->
TransformerBridge), and compares what `layer_activations` captures on a right-padded batch
with the value computed by hand from the Hugging Face model's own MLP weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from n2g_kb.errors import ModelError
from n2g_kb.lm.model import batched_neuron_activations, load_model
from n2g_kb.testing import TINY_ARCHITECTURES, build_tiny_causal_lm, tiny_tokenizer

GATED = {"llama", "mistral", "qwen2", "gemma", "gemma2", "olmo"}


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def _act(name: str):
    """The activation function a config names, written out (not taken from the model)."""
    return {
        "gelu": lambda x: F.gelu(x),
        "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
        "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "relu": F.relu,
    }[name]


def _layers(hf, model_type: str):
    if model_type in ("gpt2", "gptj"):
        return hf.transformer.h
    if model_type == "gpt_neox":
        return hf.gpt_neox.layers
    return hf.model.layers


def _by_hand(hf, model_type: str, mlp, x: torch.Tensor) -> torch.Tensor:
    """The input of the down projection, from the MLP's weights."""
    cfg = hf.config
    if model_type in GATED:
        act = _act(getattr(cfg, "hidden_activation", None) or cfg.hidden_act)
        gate = x @ mlp.gate_proj.weight.T
        up = x @ mlp.up_proj.weight.T
        return act(gate) * up
    if model_type == "gpt2":  # Conv1D: weight is [in, out]
        return _act(cfg.activation_function)(x @ mlp.c_fc.weight + mlp.c_fc.bias)
    if model_type == "gptj":
        return _act(cfg.activation_function)(x @ mlp.fc_in.weight.T + mlp.fc_in.bias)
    if model_type == "gpt_neox":
        return _act(cfg.hidden_act)(x @ mlp.dense_h_to_4h.weight.T + mlp.dense_h_to_4h.bias)
    raise AssertionError(model_type)


def _batch(tokenizer) -> tuple[torch.Tensor, list[int]]:
    texts = ["Alice went to Paris on Monday.", "The cat sat.", "Mr. Smith paid $12 for the box in Rome."]
    ids = [[tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]] for t in texts]
    width = max(map(len, ids))
    tokens = torch.full((len(ids), width), tokenizer.bos_token_id, dtype=torch.long)
    for i, row in enumerate(ids):
        tokens[i, : len(row)] = torch.tensor(row)
    return tokens, [len(row) for row in ids]


@pytest.mark.parametrize("model_type", TINY_ARCHITECTURES)
def test_the_captured_neuron_is_the_down_projection_input_computed_by_hand(
    model_type: str, tokenizer, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    path = build_tiny_causal_lm(tmp_path / model_type, model_type, tokenizer)
    model = load_model(str(path), device="cpu")
    assert model.hook_name(1) == "blocks.1.mlp.hook_post"
    assert model.d_mlp == 64 and model.n_layers == 2
    tokens, lengths = _batch(tokenizer)
    captured = model.layer_activations(tokens, [0, 1])

    hf = AutoModelForCausalLM.from_pretrained(path).eval()
    mlp_inputs: dict[int, torch.Tensor] = {}
    handles = [
        layer.mlp.register_forward_pre_hook(lambda _m, args, i=i: mlp_inputs.setdefault(i, args[0]))
        for i, layer in enumerate(_layers(hf, model_type))
    ]
    try:
        with torch.no_grad():
            hf(input_ids=tokens)
            expected = {i: _by_hand(hf, model_type, _layers(hf, model_type)[i].mlp, mlp_inputs[i]) for i in (0, 1)}
    finally:
        for h in handles:
            h.remove()
    for layer in (0, 1):
        assert captured[layer].shape == (3, tokens.shape[1], 64)
        for row, length in enumerate(lengths):  # real positions only
            torch.testing.assert_close(captured[layer][row, :length], expected[layer][row, :length], rtol=1e-4, atol=1e-5)
    assert captured[1].abs().max() > 0  # a real signal, not zeros on both sides


def test_a_gated_model_in_bfloat16_gives_float32_activations_close_to_float32(tokenizer, tmp_path: Path) -> None:
    path = build_tiny_causal_lm(tmp_path / "llama", "llama", tokenizer)
    full = load_model(str(path), device="cpu", dtype="float32")
    half = load_model(str(path), device="cpu", dtype="bfloat16")
    seqs = [full.to_tokens("Alice went to Paris.", prepend_bos=True), full.to_tokens("The dog ran.", prepend_bos=True)]
    a = batched_neuron_activations(full, 1, seqs, [3, 40])
    b = batched_neuron_activations(half, 1, seqs, [3, 40])
    for x, y in zip(a, b):
        assert x.dtype == np.float32 and y.dtype == np.float32
        np.testing.assert_allclose(y, x, rtol=0.05, atol=0.02 * float(np.abs(x).max()))


def test_a_mixture_of_experts_model_is_refused_in_one_line(tokenizer, tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(
        "mixtral", vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, num_local_experts=4, max_position_embeddings=64,
    )
    path = tmp_path / "mixtral"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    with pytest.raises(ModelError, match=r"mixture-of-experts MLP \(4 experts\).*Llama") as info:
        load_model(str(path), device="cpu")
    assert "\n" not in str(info.value)


def test_an_architecture_the_bridge_cannot_load_names_itself_and_what_is_supported(tokenizer, tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(
        "xlm-roberta", vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, is_decoder=True,
    )
    path = tmp_path / "xlmr"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    with pytest.raises(ModelError, match=r"cannot load \(XLMRobertaForCausalLM\).*GPT-NeoX/Pythia") as info:
        load_model(str(path), device="cpu")
    assert "\n" not in str(info.value)
