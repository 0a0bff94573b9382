"""Hinge loss on the implicit-reward margin, as in SLiC-HF (Zhao et al. 2023) and RSO (Liu et al. 2023)."""

from __future__ import annotations

import torch
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class HingeOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the log-ratio margin; the hinge is at beta * d = 1")
    reference_free: bool = Field(False, description="use log pi_theta alone (SLiC-HF's calibration loss)")


def _declare(options: HingeOptions) -> Declarations:
    return Declarations(
        needs_reference=not options.reference_free,
        listwise=False,
        bounded_below=0.0,  # max(0, .) >= 0
        reward_difference=True,
        bradley_terry=False,
        monotone=True,
        target_margin=1.0 / options.beta,  # the hinge reaches 0 at beta * d = 1 and stays there
    )


@define_loss("hinge", options=HingeOptions, declarations=_declare)
def hinge(scores: Scores, options: HingeOptions) -> LossOutput:
    """Hinge: max(0, 1 - beta * (h_w - h_l)) (RSO, Liu et al. 2023, arXiv 2309.06657; SLiC-HF, arXiv 2305.10425).

    Scores are pairs, shapes (N, 2), column 0 chosen. Returns (N,) losses and rewards beta * h, (N, 2).
    """
    rewards = options.beta * scores.log_ratio(reference_free=options.reference_free)  # (N, 2)
    loss = torch.relu(1.0 - (rewards[:, 0] - rewards[:, 1]))
    return LossOutput(loss=loss, rewards=rewards.detach())
