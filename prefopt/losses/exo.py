"""EXO, pairwise form: efficient exact optimisation by reverse KL to the smoothed labels (Ji et al. 2024)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class EXOOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the implicit reward beta * h")
    label_smoothing: float = Field(
        1e-3, gt=0, lt=0.5, description="eps: the label distribution is (1 - eps, eps); must be > 0 for a finite KL"
    )


def _declare(options: EXOOptions) -> Declarations:
    eps = options.label_smoothing
    return Declarations(
        needs_reference=True,
        listwise=False,
        bounded_below=0.0,  # a KL divergence
        reward_difference=True,
        bradley_terry=False,
        monotone=False,  # the KL is minimal at sigma(beta d) = 1 - eps and rises beyond it
        target_margin=math.log((1.0 - eps) / eps) / options.beta,  # where sigma(beta d) = 1 - eps, the KL is 0
    )


@define_loss("exo_pair", options=EXOOptions, declarations=_declare)
def exo_pair(scores: Scores, options: EXOOptions) -> LossOutput:
    """EXO: KL(p_theta || p_label) over the two orderings of a pair (Ji et al. 2024, arXiv 2402.00856, eq. 16).

    With z = beta * (h_w - h_l), p_theta = (sigma(z), sigma(-z)) and p_label = (1 - eps, eps):
    L = sigma(z) * (log sigma(z) - log(1 - eps)) + sigma(-z) * (log sigma(-z) - log eps).
    Scores are pairs, shapes (N, 2). Returns (N,) losses and rewards beta * h, (N, 2).
    """
    eps = options.label_smoothing
    rewards = options.beta * scores.log_ratio()  # (N, 2)
    z = rewards[:, 0] - rewards[:, 1]
    log_p, log_q = F.logsigmoid(z), F.logsigmoid(-z)
    loss = log_p.exp() * (log_p - math.log1p(-eps)) + log_q.exp() * (log_q - math.log(eps))
    return LossOutput(loss=loss, rewards=rewards.detach())
