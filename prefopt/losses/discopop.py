"""DiscoPOP: the log-ratio modulated loss found by LLM-driven objective discovery (Lu et al. 2024)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class DiscoPOPOptions(LossOptions):
    beta: float = Field(0.05, gt=0, description="scale of the margin; 0.05 as in the paper's main runs")
    tau: float = Field(
        0.05, gt=0, le=1, description="temperature of the mixing gate sigma(beta d / tau); 0.05 as in the paper"
    )


@define_loss(
    "discopop",
    options=DiscoPOPOptions,
    declarations=Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # a gated mixture of -log sigma and exp, both >= 0
        reward_difference=True,
        bradley_terry=False,
        # non-convex and not monotone: near z = 0 the gate's slope 1/(4 tau) makes the loss rise with z
        monotone=False,
    ),
)
def discopop(scores: Scores, options: DiscoPOPOptions) -> LossOutput:
    """DiscoPOP (LRML): (1 - sigma(z / tau)) * -log sigma(z) + sigma(z / tau) * exp(-z), z = beta * (h_w - h_l).

    Lu et al. 2024, "Discovering Preference Optimization Algorithms with and for Large Language Models",
    arXiv 2406.08414, eq. 5: a blend of the logistic (DPO) and exponential losses gated by the margin.
    The exponential part is computed as exp(log sigma(z / tau) - z), finite for every z when tau <= 1.
    Scores are pairs, shapes (N, 2). Returns (N,) losses and rewards beta * h, (N, 2).
    """
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    z = rewards[:, 0] - rewards[:, 1]
    gate = z / options.tau
    loss = torch.sigmoid(-gate) * -F.logsigmoid(z) + torch.exp(F.logsigmoid(gate) - z)
    return LossOutput(loss=loss, rewards=rewards.detach())
