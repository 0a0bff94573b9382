"""Torch's vector math made accurate from a process's first call, before any model runs.

x86 builds of torch hand float functions such as cos and sin to Intel MKL's vector math library (VML) and split
a long input across threads. The first VML call of a process, when split, can return inaccurate values for the
part the helper threads compute; every later call is accurate. Measured with torch 2.13.0+cpu (MKL 2024.2) on
2 cores: in 12 of 100 fresh processes building the tiny preset's run, the rotary position embedding of the first
forward pass was off by up to 1.5e-4 in its second half of rows, and in none of 100 processes that first called
:func:`settle_vector_math`. A rotary embedding computes cos and sin in every forward pass, so without it the first
forward pass of a process (a reference cache's first batch, the first held-out evaluation) could differ in the
last bits from the same pass in any other process.
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def settle_vector_math() -> None:
    """Make this process's first VML call (once per precision) on a few elements, which torch runs on one thread."""
    for dtype in (torch.float32, torch.float64):
        torch.cos(torch.zeros(8, dtype=dtype))
