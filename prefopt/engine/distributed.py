"""The ``accelerate`` Accelerator every command runs under.

Launch several processes with ``accelerate launch`` (GPUs: DDP, FSDP, DeepSpeed through its config) or with
``torchrun --nproc_per_node N`` on CPUs, where processes talk over gloo. accelerate only recognises a
multi-process CPU run when asked for the CPU explicitly, so that is done when several processes run and no
CUDA device exists.
"""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState


def make_accelerator(mixed_precision: str = "no") -> Accelerator:
    """A fresh Accelerator; the process-wide state of an earlier run in this process (a notebook, a sweep) is
    reset so the new run may ask for another mixed precision. The process group itself is kept."""
    AcceleratorState._reset_state(reset_partial_state=False)
    multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(mixed_precision=mixed_precision, cpu=multi_process and not torch.cuda.is_available())
