"""Held-out evaluation: preference metrics of a model on tokenised examples, over all processes."""

from __future__ import annotations

import math

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch import nn

from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine.metrics import ExampleStats, MetricMean, batch_metrics, example_values
from prefopt.engine.step import loss_step
from prefopt.losses import TrainingLoss
from prefopt.model.logprobs import Layout
from prefopt.reference import ReferenceLogProbs
from prefopt.reference.batches import reference_batches
from prefopt.run.builder import RunParts


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
    """Held-out metrics of the model run in ``layout`` on the distinct ``examples``, over all processes.

    ``examples``: how many were evaluated. Each value of :func:`~prefopt.engine.metrics.example_values`
    (``accuracy``, ``margin``, ``kendall_tau``, ``loss``, ``rewards/accuracy``, ``rewards/margin``,
    ``nll_per_token``) is the mean over the examples it counts for, with its standard error as ``<name>_se``
    (:meth:`~prefopt.engine.metrics.ExampleStats.summary`); a likelihood objective adds ``perplexity`` =
    exp(``nll_per_token``). The rest of :func:`~prefopt.engine.metrics.batch_metrics` (rewards and log-probs
    per rank, the loss's own metrics, and ``loss`` where the loss gives no per-example losses) are means over
    batches weighted by their examples.

    Examples are taken in the fixed batches of :func:`prefopt.reference.batches.reference_batches`, the batches
    the reference cache is computed in, so before training the policy reproduces the reference log-probs bit for
    bit (every margin exactly 0, accuracy exactly 50%). Each process evaluates every ``num_processes``-th batch
    with the unwrapped model (a DDP-wrapped forward would wait for the other processes, which may hold fewer
    batches); totals are then summed. A sharded model (FSDP, DeepSpeed) gathers its parameters from
    every process in each forward, so there a process short of batches runs its first one again, uncounted.
    """
    if not examples:
        return {}
    model = accelerator.unwrap_model(model)
    was_training = model.training
    model.eval()
    mean, stats = MetricMean(), ExampleStats()
    declarations = loss.declarations
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
                mean.add(batch_metrics(scores, out, declarations), weight=len(batch.keys))
                stats.add(example_values(scores, out, declarations))
    model.train(was_training)
    metrics = {"examples": len(examples), **mean.gathered_means(accelerator), **stats.gathered(accelerator).summary()}
    if "nll_per_token" in metrics:
        metrics["perplexity"] = math.exp(metrics["nll_per_token"])
    return metrics


def evaluate_held_out(parts: RunParts, model: nn.Module) -> dict[str, float]:
    """:func:`evaluate` of ``model`` on the held-out split of a run, with the run's layout, loss, reference and
    batch size."""
    return evaluate(
        model,
        parts.layout,
        parts.splits.eval,
        parts.loss,
        parts.reference,
        parts.accelerator,
        batch_size=parts.config.reference.batch_size,
        pad_token_id=parts.tokenizer.pad_token_id,
    )
