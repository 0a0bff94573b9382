"""The order in which training examples are seen: a pure function of the seed and the position.

The stream is an endless sequence of epochs, each a seeded permutation of the example indices. Optimizer step
``s`` consumes stream positions ``[s * G, (s + 1) * G)`` for a global batch of G prompts, so resuming at step
``s`` needs nothing but ``s``. Process ``r`` of ``W`` takes, for accumulation step ``j``, the micro-batch at
global micro-batch index ``j * W + r``.
"""

from __future__ import annotations

import torch


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_examples, generator=generator).tolist()


def stream_slice(num_examples: int, seed: int, start: int, count: int) -> list[int]:
    """Example indices at stream positions ``[start, start + count)``."""
    if num_examples == 0:
        raise ValueError("cannot draw training batches from an empty dataset")
    indices: list[int] = []
    position = start
    while len(indices) < count:
        epoch, offset = divmod(position, num_examples)
        take = epoch_permutation(num_examples, seed, epoch)[offset : offset + count - len(indices)]
        indices.extend(take)
        position += len(take)
    return indices


def step_micro_batches(
    num_examples: int, seed: int, step: int, batch_size: int, micro_batch_size: int, rank: int, world_size: int
) -> list[list[int]]:
    """The micro-batches (lists of example indices) process ``rank`` computes at optimizer step ``step``."""
    global_batch = stream_slice(num_examples, seed, step * batch_size, batch_size)
    micro = [global_batch[i : i + micro_batch_size] for i in range(0, batch_size, micro_batch_size)]
    return micro[rank::world_size]
