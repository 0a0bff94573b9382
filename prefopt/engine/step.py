"""One batch through the policy and the loss: Batch -> Scores -> LossOutput.

The step reads only the loss's declarations (does it need the reference? token-level log-probs?), never its name.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from prefopt.data.batch import Batch
from prefopt.engine.logprobs import sequence_logprobs
from prefopt.losses import Declarations, TrainingLoss
from prefopt.types import LossOutput, Scores


class ReferenceLogProbs(Protocol):
    """Reference log-probs of a batch's responses, (B, K) float32."""

    def __call__(self, batch: Batch) -> Tensor: ...


class LiveReference:
    """Reference log-probs computed by a frozen model held in memory, batch by batch."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval().requires_grad_(False)

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad():
            return sequence_logprobs(self.model, batch).summed


class AdapterDisabledReference:
    """Reference log-probs of a PEFT policy with its adapters switched off: the base weights, no second model."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad(), self.model.disable_adapter():
            return sequence_logprobs(self.model, batch).summed


class CachedReference:
    """Reference log-probs read by example key from the caches of a run (one per split)."""

    def __init__(self, caches: list) -> None:
        self.caches = caches

    def __call__(self, batch: Batch) -> Tensor:
        cache = next((c for c in self.caches if all(key in c for key in batch.keys)), self.caches[0])
        return cache.lookup(batch.keys, batch.valid.shape[1]).to(batch.valid.device)  # KeyError names a missing key


def batch_scores(
    model: nn.Module, batch: Batch, declarations: Declarations, reference: ReferenceLogProbs | None
) -> Scores:
    """Policy log-probs of ``batch`` (with gradients) and whatever else the loss declares it needs."""
    logps = sequence_logprobs(model, batch, token_level=declarations.needs_token_logps)
    ref = reference(batch) if declarations.needs_reference and reference is not None else None
    return Scores(
        policy=logps.summed,
        reference=ref,
        lengths=logps.lengths.to(logps.summed.dtype),
        valid=batch.valid,
        ranks=batch.ranks,
        token_policy=logps.token,
        token_mask=logps.token_mask,
    )


def loss_step(
    model, batch: Batch, loss: TrainingLoss, reference: ReferenceLogProbs | None
) -> tuple[Scores, LossOutput]:
    """Scores of ``batch`` and the loss's output on them."""
    scores = batch_scores(model, batch, loss.declarations, reference)
    return scores, loss(scores)
