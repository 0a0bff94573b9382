"""One batch through the policy and the loss: Batch -> Scores -> BatchLoss.

The step reads only the loss's declarations (does it need the reference? token-level log-probs?), never its name.
"""

from __future__ import annotations

from torch import nn

from prefopt.data.batch import Batch
from prefopt.losses import Declarations, TrainingLoss
from prefopt.model.logprobs import Layout, sequence_logprobs
from prefopt.reference import ReferenceLogProbs
from prefopt.types import BatchLoss, Scores


def batch_scores(
    model: nn.Module,
    batch: Batch,
    layout: Layout,
    declarations: Declarations,
    reference: ReferenceLogProbs | None,
) -> Scores:
    """Policy log-probs of ``batch`` (with gradients, in ``layout``) and whatever else the loss declares it needs."""
    logps = sequence_logprobs(model, batch, layout, token_level=declarations.needs_token_logps)
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
    model, batch: Batch, layout: Layout, loss: TrainingLoss, reference: ReferenceLogProbs | None
) -> tuple[Scores, BatchLoss]:
    """Scores of ``batch`` (the policy run in ``layout``) and the loss's output on them."""
    scores = batch_scores(model, batch, layout, loss.declarations, reference)
    return scores, loss(scores)
