"""Whether bfloat16 pays off where a run computes.

On a CPU, bfloat16 matrix products are fast only with native instructions (AVX-512 BF16 or AMX); elsewhere
torch emulates them, and they run several to a hundred times slower than float32 (measured on an AVX2-only
AMD EPYC with torch 2.13: a (2048 x 256) @ (256 x 688) product took 8 ms in float32 and 50 ms in bfloat16, the
transposed products of the backward pass up to 600 ms).
"""

from __future__ import annotations

import torch


def cpu_has_bfloat16_matmul() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX-512 BF16 or AMX tiles)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def slow_bfloat16_warning(device: torch.device, weights: str, autocast: str = "no") -> str | None:
    """A warning when a run computes in bfloat16 (``weights``: ``model.dtype``; ``autocast``:
    ``optim.mixed_precision``) on a CPU without native bfloat16 matrix products; None otherwise."""
    uses_bfloat16 = weights == "bfloat16" or autocast == "bf16"
    if not uses_bfloat16 or device.type != "cpu" or cpu_has_bfloat16_matmul():
        return None
    return (
        "warning: bfloat16 on a CPU without AVX-512 BF16 or AMX: its matrix products are emulated and run many "
        "times slower than float32 here; model.dtype=float32 and optim.mixed_precision=no are faster"
    )
