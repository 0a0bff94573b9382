"""The ``accelerate`` Accelerator every command runs under.

Launch several processes with ``accelerate launch`` (GPUs: DDP, FSDP, DeepSpeed through its config) or with
``torchrun --nproc_per_node N`` on CPUs, where processes talk over gloo. accelerate only recognises a
multi-process CPU run when asked for the CPU explicitly, so that is done when several processes run and no
CUDA device exists. ``accelerate launch --cpu`` itself starts one process whatever ``--num_processes`` says (its
multi-process CPU launcher is ``mpirun``); ``accelerate launch --multi_gpu --num_processes N`` starts N processes
through torchrun, which run on the CPU with gloo where there is no GPU.
"""

from __future__ import annotations

import os
import sys

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState


def make_accelerator(mixed_precision: str = "no") -> Accelerator:
    """A fresh Accelerator; the process-wide state of an earlier run in this process (a notebook, a sweep) is
    reset so the new run may ask for another mixed precision. The process group itself is kept."""
    AcceleratorState._reset_state(reset_partial_state=False)
    if note := single_cpu_launch_note(os.environ):
        print(note, file=sys.stderr)
    multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(mixed_precision=mixed_precision, cpu=multi_process and not torch.cuda.is_available())


def single_cpu_launch_note(environment: dict[str, str]) -> str | None:
    """A note when ``accelerate launch --cpu`` started this process (``ACCELERATE_USE_CPU`` set, no
    ``WORLD_SIZE``): that launcher runs one process, so a ``--num_processes`` given to it had no effect."""
    if environment.get("ACCELERATE_USE_CPU", "").lower() != "true" or "WORLD_SIZE" in environment:
        return None
    return (
        "note: accelerate launch --cpu runs one process whatever --num_processes says; for N processes on CPU use "
        "`accelerate launch --multi_gpu --num_processes N -m prefopt train ...` (with no GPU they run on the CPU "
        "with gloo) or `torchrun --standalone --nproc_per_node N -m prefopt train ...`"
    )
