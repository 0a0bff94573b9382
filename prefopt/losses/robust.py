"""Robust DPO (rDPO): an unbiased DPO loss under a known label-flip rate (Chowdhury et al. 2024)."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class RobustOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="KL-penalty strength, as in DPO")
    label_smoothing: float = Field(
        0.1, ge=0, lt=0.5, description="eps, the known probability that a preference label is flipped"
    )


def _declare(options: RobustOptions) -> Declarations:
    return Declarations(
        needs_reference=True,
        listwise=False,
        reward_difference=True,
        bradley_terry=options.label_smoothing == 0,
        # with eps > 0 the flipped term -eps * l(-beta d) falls without limit as d grows; at eps = 0 this is DPO
        bounded_below=0.0 if options.label_smoothing == 0 else None,
        monotone=True,
    )


@define_loss("robust", options=RobustOptions, declarations=_declare)
def robust(scores: Scores, options: RobustOptions) -> LossOutput:
    """rDPO: ((1 - eps) * l(beta d) - eps * l(-beta d)) / (1 - 2 eps), l(z) = -log sigma(z), d = h_w - h_l.

    Chowdhury et al. 2024, "Provably Robust DPO", arXiv 2403.00409. Unlike conservative DPO the flipped
    term enters with a minus sign, which de-biases the loss: its expectation under flips at rate eps is the
    clean DPO loss. The derivative in d is -beta * ((1 - eps) sigma(-beta d) + eps sigma(beta d)) / (1 - 2 eps) < 0.
    Scores are pairs, shapes (N, 2). Returns (N,) losses and rewards beta * h, (N, 2).
    """
    eps = options.label_smoothing
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    margin = rewards[:, 0] - rewards[:, 1]
    loss = (-(1.0 - eps) * F.logsigmoid(margin) + eps * F.logsigmoid(-margin)) / (1.0 - 2.0 * eps)
    return LossOutput(loss=loss, rewards=rewards.detach())
