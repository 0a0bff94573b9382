"""BCO, pairwise form: binary classifier optimisation with a reward shift (Jung et al. 2024)."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class BCOOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the implicit reward r = beta * h")


@define_loss(
    "bco_pair",
    options=BCOOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # two -log sigma terms
        # delta couples the prompts of a batch: shifting one prompt's log-probs moves every prompt's loss, and
        # raising r_w also raises delta, which can raise the batch's loss
        reward_difference=False,
        bradley_terry=False,
        monotone=False,
        per_prompt=False,
    ),
)
def bco_pair(scores: Scores, options: BCOOptions) -> LossOutput:
    """BCO: -log sigma(r_w - delta) - log sigma(-(r_l - delta)), r = beta * h (Jung et al. 2024, arXiv 2404.04656).

    The chosen response is classified as positive and the rejected one as negative, with the decision boundary
    shifted by delta. The paper (and TRL) keep delta as a running mean of the rewards over training; this loss is
    stateless, so delta is the detached mean of this batch's chosen and rejected rewards. Scores are pairs,
    shapes (N, 2). Returns (N,) losses, rewards r (N, 2), and the metric ``delta``.
    """
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    delta = rewards.detach().mean()
    loss = -F.logsigmoid(rewards[:, 0] - delta) - F.logsigmoid(-(rewards[:, 1] - delta))
    return LossOutput(loss=loss, rewards=rewards.detach(), metrics={"delta": float(delta)})
