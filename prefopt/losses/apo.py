"""APO: anchored preference optimisation, zero and down variants (D'Oosterlinck et al. 2024)."""

from __future__ import annotations

import torch
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class APOOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the implicit reward r = beta * h")


@define_loss(
    "apo_zero",
    options=APOOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # (1 - sigma) + sigma >= 0
        reward_difference=False,
        bradley_terry=False,
        monotone=True,
    ),
)
def apo_zero(scores: Scores, options: APOOptions) -> LossOutput:
    """APO-zero: (1 - sigma(r_w)) + sigma(r_l), r = beta * h.

    D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions", arXiv 2408.06266,
    eq. 7: raise the chosen and lower the rejected likelihood, each anchored at the reference (r = 0); for when the
    chosen responses are better than the model's own. Scores are pairs, shapes (N, 2). Returns (N,) losses and
    rewards r, (N, 2).
    """
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    loss = (1.0 - torch.sigmoid(rewards[:, 0])) + torch.sigmoid(rewards[:, 1])
    return LossOutput(loss=loss, rewards=rewards.detach())


@define_loss(
    "apo_down",
    options=APOOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # sigma + (1 - sigma) >= 0
        reward_difference=False,
        bradley_terry=False,
        monotone=False,  # it lowers the chosen likelihood on purpose
    ),
)
def apo_down(scores: Scores, options: APOOptions) -> LossOutput:
    """APO-down: sigma(r_w) + (1 - sigma(r_w - r_l)), r = beta * h (arXiv 2408.06266, eq. 8).

    Lower both likelihoods, the rejected one more: for when the chosen responses are worse than the model's own.
    Scores are pairs, shapes (N, 2). Returns (N,) losses and rewards r, (N, 2).
    """
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    loss = torch.sigmoid(rewards[:, 0]) + (1.0 - torch.sigmoid(rewards[:, 0] - rewards[:, 1]))
    return LossOutput(loss=loss, rewards=rewards.detach())
