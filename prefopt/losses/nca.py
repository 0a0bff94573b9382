"""NCA, pairwise form: noise contrastive alignment on absolute implicit rewards (Chen et al. 2024)."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class NCAOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the implicit reward r = beta * h")


@define_loss(
    "nca_pair",
    options=NCAOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # three -log sigma terms
        reward_difference=False,  # reads r_w and r_l on their own, not only r_w - r_l
        bradley_terry=False,
        monotone=False,  # d/dr_w = 1.5 sigma(r_w) - 1 > 0 once r_w > log 2
    ),
)
def nca_pair(scores: Scores, options: NCAOptions) -> LossOutput:
    """NCA: -log sigma(r_w) - 1/2 log sigma(-r_w) - 1/2 log sigma(-r_l), r = beta * h.

    Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards", arXiv 2402.05369
    (the pairwise case of the NCA loss). Scores are pairs, shapes (N, 2). Returns (N,) losses and the rewards
    r, (N, 2).
    """
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    chosen, rejected = rewards[:, 0], rewards[:, 1]
    loss = -F.logsigmoid(chosen) - 0.5 * F.logsigmoid(-chosen) - 0.5 * F.logsigmoid(-rejected)
    return LossOutput(loss=loss, rewards=rewards.detach())
