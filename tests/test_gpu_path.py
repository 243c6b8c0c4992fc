"""The CUDA path's decisions, checked on any machine: dtype choice, batch sizes from free
memory (pure functions fed fake numbers), and the overlapped copy loop's results. The
last test runs only where a CUDA device exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from n2g_kb.errors import ConfigError
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations, load_model, resolve_dtype, to_device, tokens_for_memory
from n2g_kb.runners.ingest import IngestOptions
from n2g_kb.n2g.config import N2GConfig
from n2g_kb.testing import build_tiny_gpt2

GIB = 2**30


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> LoadedModel:
    return load_model(str(build_tiny_gpt2(tmp_path_factory.mktemp("tiny"), n_layers=2, d_mlp=128)), device="cpu")


@pytest.mark.parametrize(
    ("dtype", "device", "bf16", "expected"),
    [
        ("auto", "cpu", None, "float32"),
        ("auto", "cuda", True, "bfloat16"),
        ("auto", "cuda:1", True, "bfloat16"),
        ("auto", "cuda", False, "float32"),  # pre-Ampere GPUs: no bfloat16
        ("float16", "cuda", True, "float16"),
        ("float32", "cuda", True, "float32"),
    ],
)
def test_auto_picks_bfloat16_only_on_a_gpu_that_supports_it(dtype, device, bf16, expected) -> None:
    assert resolve_dtype(dtype, device, bf16_supported=bf16) == expected


def test_an_unknown_dtype_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="dtype 'int8' is not supported; use one of float32, float16, bfloat16, auto"):
        resolve_dtype("int8", "cpu")


def test_the_token_budget_is_free_memory_over_the_bytes_each_token_needs() -> None:
    # per token: 2 bytes x (6*10 + 3*20 + 2 heads x 5 wide) + 2 x 4 bytes x 20 captured = 260 + 160 = 420
    fit = tokens_for_memory(1_000_000, d_model=10, d_mlp=20, n_heads=2, width=5, captured_values=20, act_bytes=2)
    assert fit == 500_000 // 420
    assert tokens_for_memory(2_000_000, d_model=10, d_mlp=20, n_heads=2, width=5, captured_values=20, act_bytes=2) == 1_000_000 // 420
    assert tokens_for_memory(1_000_000, d_model=10, d_mlp=20, n_heads=2, width=5, captured_values=20, act_bytes=4) < fit
    assert tokens_for_memory(10, d_model=10, d_mlp=20, n_heads=2, width=5, captured_values=20, act_bytes=2) == 5  # one row


def test_gpt2_small_on_an_80_gib_gpu_gets_a_budget_in_the_hundreds_of_thousands_of_tokens() -> None:
    fit = tokens_for_memory(70 * GIB, d_model=768, d_mlp=3072, n_heads=12, width=65, captured_values=12 * 3072, act_bytes=2)
    assert 100_000 < fit < 200_000  # all 12 layers captured: ~300 KB per token
    one_layer = tokens_for_memory(70 * GIB, d_model=768, d_mlp=3072, n_heads=12, width=65, captured_values=3072, act_bytes=2)
    assert one_layer > 5 * fit


def test_batches_follow_free_memory_and_the_cpu_keeps_its_defaults(model: LoadedModel) -> None:
    assert model.free_memory() is None  # a CPU model never asks
    assert model.batch_token_cap(32768) == 32768
    assert model.mining_batch(32, 65, 2) == 32
    plenty, little = 64 * GIB, 8 * 2**20
    assert model.batch_token_cap(32768, free_bytes=plenty) == 32768  # never above what was asked
    small = model.batch_token_cap(32768, free_bytes=little)
    assert 128 <= small < 32768
    assert small == min(32768, model.tokens_that_fit(128, model.d_mlp, little))
    assert model.mining_batch(256, 65, 2, free_bytes=plenty) == 1024
    assert 16 <= model.mining_batch(256, 65, 2, free_bytes=little) < 1024
    assert model.mining_batch(256, 65, 2, free_bytes=1) == 16


def test_ingest_asks_the_model_for_the_mining_batch_on_a_gpu_only(model: LoadedModel) -> None:
    options = IngestOptions(model="m", layers="0")
    config = N2GConfig()
    assert options.mining_options(config, "cpu", model).batch_size == 32
    assert options.mining_options(config, "cuda").batch_size == 256

    class Fake:
        def mining_batch(self, default, width, n_layers):
            return 700 + n_layers + width

    assert options.mining_options(config, "cuda", Fake(), 3).batch_size == 700 + 3 + 65
    assert IngestOptions(model="m", layers="0", batch_size=8).mining_options(config, "cuda", Fake()).batch_size == 8


def test_a_cpu_tensor_stays_put_on_the_cpu() -> None:
    tokens = torch.arange(6).reshape(2, 3)
    assert to_device(tokens, "cpu") is tokens


def test_the_overlapped_loop_returns_every_request_in_order(model: LoadedModel) -> None:
    g = torch.Generator().manual_seed(3)
    sequences = [torch.randint(0, 300, (int(n),), generator=g).tolist() for n in torch.randint(2, 40, (50,), generator=g)]
    neurons = torch.randint(0, model.d_mlp, (50,), generator=g).tolist()
    many = batched_neuron_activations(model, 1, sequences, neurons, batch_tokens=96, max_batch_rows=3)
    assert model.stats.forward_calls > 10  # many batches, so results cross batch boundaries
    for seq, neuron, got in zip(sequences, neurons, many):
        alone = model.layer_activations(torch.tensor([seq]), [1])[1][0, :, neuron].numpy()
        np.testing.assert_allclose(got, alone, rtol=0, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_auto_is_bfloat16_and_batches_match_float32_on_the_cpu(tmp_path: Path) -> None:
    path = build_tiny_gpt2(tmp_path / "m", n_layers=2, d_mlp=128)
    gpu = load_model(str(path), device="cuda", dtype="auto")
    cpu = load_model(str(path), device="cpu")
    assert gpu.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    assert gpu.free_memory() > 0 and gpu.batch_token_cap(10**9) < 10**9
    seqs = [cpu.to_tokens("Alice went to Paris.", prepend_bos=True), cpu.to_tokens("The cat sat.", prepend_bos=True)] * 20
    neurons = list(range(40))
    a = batched_neuron_activations(cpu, 1, seqs, neurons, batch_tokens=64)
    b = batched_neuron_activations(gpu, 1, seqs, neurons, batch_tokens=64)
    for x, y in zip(a, b):
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, x, rtol=0.05, atol=0.05 * max(1e-3, float(np.abs(x).max())))
