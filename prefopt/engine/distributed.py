"""The ``accelerate`` Accelerator every command runs under.

Launch several processes with ``accelerate launch`` (GPUs: DDP, FSDP, DeepSpeed through its config) or with
``torchrun --nproc_per_node N`` on CPUs, where processes talk over gloo. accelerate only recognises a
multi-process CPU run when asked for the CPU explicitly, so that is done when several processes run and no
CUDA device exists. ``accelerate launch --cpu`` itself starts one process whatever ``--num_processes`` says (its
multi-process CPU launcher is ``mpirun``); ``accelerate launch --multi_gpu --num_processes N`` starts N processes
through torchrun, which run on the CPU with gloo where there is no GPU.

FSDP2 runs on the CPU over gloo too, but accelerate keeps a multi-process CPU run as DDP even when FSDP is asked
for (``ACCELERATE_USE_FSDP=true``, as ``accelerate launch`` with ``distributed_type: FSDP`` sets it): its state
turns only accelerator runs into FSDP. There the run is turned into FSDP as accelerate does it on GPUs
(:func:`shard_on_cpu`).
"""

from __future__ import annotations

import os
import sys

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from prefopt.config import ConfigError


def make_accelerator(mixed_precision: str = "no") -> Accelerator:
    """A fresh Accelerator; the process-wide state of an earlier run in this process (a notebook, a sweep) is
    reset so the new run may ask for another mixed precision. The process group itself is kept."""
    AcceleratorState._reset_state(reset_partial_state=False)
    if note := single_cpu_launch_note(os.environ):
        print(note, file=sys.stderr)
    multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
    on_cpu = multi_process and not torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=on_cpu)
    if on_cpu and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        shard_on_cpu(accelerator, mixed_precision)
    return accelerator


def shard_on_cpu(accelerator: Accelerator, mixed_precision: str) -> None:
    """Make the multi-process CPU run of ``accelerator`` an FSDP2 run, with the plugin accelerate builds from the
    ``FSDP_*`` variables: what its state does for an accelerator's run (accelerate 1.16, ``AcceleratorState``),
    which it leaves undone on the CPU (``DistributedType.MULTI_CPU``, the model then wrapped in DDP).

    Raises:
        ConfigError: ``FSDP_VERSION`` is not 2; FSDP1 fails on the CPU (torch rejects the ``cpu:N`` device).
    """
    plugin = FullyShardedDataParallelPlugin()
    if plugin.fsdp_version != 2:
        raise ConfigError(
            f"FSDP on CPU needs FSDP_VERSION=2 (fsdp_version: 2 in an accelerate config); got {plugin.fsdp_version}"
        )
    if mixed_precision != "no":
        plugin.set_mixed_precision(mixed_precision)
    accelerator.state.fsdp_plugin = plugin
    accelerator.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


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
