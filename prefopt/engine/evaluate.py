"""Held-out evaluation: preference metrics of a model on tokenised examples, over all processes."""

from __future__ import annotations

import math

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch import nn

from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine.metrics import MetricMean, preference_metrics
from prefopt.engine.step import loss_step
from prefopt.losses import TrainingLoss
from prefopt.model.logprobs import Layout
from prefopt.reference import ReferenceLogProbs
from prefopt.reference.batches import reference_batches


def evaluate(
    model: nn.Module,
    layout: Layout,
    examples: list[TokenizedExample],
    loss: TrainingLoss,
    reference: ReferenceLogProbs | None,
    accelerator: Accelerator,
    *,
    batch_size: int,
    pad_token_id: int,
) -> dict[str, float]:
    """Metrics of :func:`prefopt.engine.metrics.preference_metrics` averaged over the distinct examples, the
    model run in ``layout``.

    Examples are taken in the fixed batches of :func:`prefopt.reference.batches.reference_batches`, the batches
    the reference cache is computed in, so before training the policy reproduces the reference log-probs bit for
    bit (every margin exactly 0, accuracy exactly 50%). Each process evaluates every ``num_processes``-th batch
    with the unwrapped model (a DDP-wrapped forward would wait for the other processes, which may hold fewer
    batches); totals and weights are then summed. A sharded model (FSDP, DeepSpeed) gathers its parameters from
    every process in each forward, so there a process short of batches runs its first one again, uncounted.
    """
    if not examples:
        return {}
    model = accelerator.unwrap_model(model)
    was_training = model.training
    model.eval()
    mean = MetricMean()
    every_batch = reference_batches(examples, batch_size)
    batches = every_batch[accelerator.process_index :: accelerator.num_processes]
    forwards = len(batches)
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        forwards = math.ceil(len(every_batch) / accelerator.num_processes)
    with torch.no_grad():
        for index in range(forwards):
            counted = index < len(batches)
            batch = collate(batches[index] if counted else every_batch[0], pad_token_id).to(accelerator.device)
            scores, out = loss_step(model, batch, layout, loss, reference)
            if counted:
                mean.add(preference_metrics(scores, out), weight=len(batch.keys))
    model.train(was_training)
    return mean.gathered_means(accelerator)
