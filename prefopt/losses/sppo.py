"""SPPO with hard labels: self-play preference optimisation's square loss (Wu et al. 2024)."""

from __future__ import annotations

from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class SPPOOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="inverse of the paper's eta; the targets are h = +-1 / (2 beta)")


@define_loss(
    "sppo_hard",
    options=SPPOOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # a sum of squares
        reward_difference=False,  # each log-ratio has its own target
        bradley_terry=False,
        monotone=False,  # the square rises again once h_w passes 1 / (2 beta)
    ),
)
def sppo_hard(scores: Scores, options: SPPOOptions) -> LossOutput:
    """SPPO (hard): (h_w - 1 / (2 beta))^2 + (h_l + 1 / (2 beta))^2 (Wu et al. 2024, arXiv 2405.00675).

    The paper regresses the log-ratio h on eta * (P(y wins) - 1/2); with hard labels (P = 1 for the chosen,
    0 for the rejected response) and eta = 1 / beta this is the loss above. Scores are pairs, shapes (N, 2). Returns (N,)
    losses and rewards beta * h, (N, 2).
    """
    h = scores.log_ratio()  # (N, 2)
    target = 1.0 / (2.0 * options.beta)
    loss = (h[:, 0] - target) ** 2 + (h[:, 1] + target) ** 2
    return LossOutput(loss=loss, rewards=(options.beta * h).detach())
