"""Optimizer and learning-rate schedule (DPO paper App. B: RMSprop, linear warm-up from 0 over 150 steps).

AdamW runs as torch's fused kernel wherever every trainable parameter is a floating-point tensor on a CPU or CUDA
device (one kernel for all parameters: 41 ms against 218 ms per step of the `small` preset's 12.3M parameters on
2 CPU cores, docs/benchmarks.md); elsewhere torch's default implementation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from prefopt.config import OptimConfig


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused_adamw(params) or None)


def fused_adamw(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused AdamW takes ``params``: floating-point tensors, all on one CPU or CUDA device."""
    devices = {p.device for p in params}
    return (
        len(devices) == 1
        and next(iter(devices)).type in ("cpu", "cuda")
        and all(p.is_floating_point() and type(p) is torch.nn.Parameter for p in params)
    )


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier of the base learning rate after ``step`` optimizer steps.

    Linear warm-up from 0 over ``warmup_steps``, then constant or a cosine decay to 0 at ``total_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, total_steps, config.schedule)
    )
