"""The bfloat16 warning: only for bfloat16 work on a CPU that lacks native bfloat16 matrix products."""

import pytest
import torch

import prefopt.model.precision as precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("device", "weights", "autocast", "native", "warned"),
    [
        (CPU, "bfloat16", "no", False, True),
        (CPU, "float32", "bf16", False, True),
        (CPU, "float32", "no", False, False),
        (CPU, "float16", "fp16", False, False),
        (CPU, "bfloat16", "bf16", True, False),
        (CUDA, "bfloat16", "bf16", False, False),
    ],
)
def test_warning_only_for_bfloat16_on_a_cpu_without_native_products(
    monkeypatch, device, weights, autocast, native, warned
):
    monkeypatch.setattr(precision, "cpu_has_bfloat16_matmul", lambda: native)
    message = precision.slow_bfloat16_warning(device, weights, autocast)
    assert (message is not None) == warned
    if warned:
        assert "float32" in message and "model.dtype" in message


def test_native_support_reads_the_cpu_instruction_sets(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not precision.cpu_has_bfloat16_matmul()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.cpu_has_bfloat16_matmul()
