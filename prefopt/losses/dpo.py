"""DPO: the Bradley-Terry sigmoid loss on implicit rewards (Rafailov et al. 2023, eq. 7)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.losses.functional import bradley_terry_nll
from prefopt.types import LossOutput, Scores

Divergence = Literal["reverse_kl", "forward_kl", "js", "alpha"]


class DPOOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="KL-penalty strength; 0.1 as in the paper (App. B)")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="cDPO: probability eps that a label is flipped")
    reference_free: bool = Field(False, description="use log pi_theta alone as the log-ratio (pi_ref uniform)")
    length_normalize: bool = Field(False, description="divide log-probs by response length (Tulu 3)")
    divergence: Divergence = Field("reverse_kl", description="f-divergence of f-DPO (Wang et al. 2023)")
    alpha: float = Field(0.5, gt=0, lt=1, description="alpha of the alpha-divergence")


def _declare(options: DPOOptions) -> Declarations:
    standard = options.divergence == "reverse_kl"
    eps = options.label_smoothing
    smoothed = eps > 0
    return Declarations(
        needs_reference=not options.reference_free,
        length_normalized=options.length_normalize,
        listwise=False,
        bounded_below=0.0,  # -log sigma(.) >= 0, and with smoothing a mixture of two such terms
        # h_w / |y_w| - h_l / |y_l| moves when f(x) is added to both log-probs of responses of unequal length
        reward_difference=standard and not options.length_normalize,
        bradley_terry=standard and not smoothed and not options.length_normalize,
        # with eps > 0 the loss is minimal at the finite margin log((1 - eps) / eps) and rises beyond it
        monotone=not smoothed,
        # d/dm [(1 - eps) softplus(-beta m) + eps softplus(beta m)] = 0 at beta m = log((1 - eps) / eps)
        target_margin=math.log((1.0 - eps) / eps) / options.beta if smoothed and standard else None,
    )


def f_divergence_reward(h: Tensor, divergence: Divergence, alpha: float) -> Tensor:
    """(..) f'(pi/pi_ref) as a function of the log-ratio h (f-DPO, Wang et al. 2023, arXiv 2309.16240, Table 1).

    reverse KL: h; forward KL: -exp(-h); Jensen-Shannon: h - log(1 + e^h) + log 2 = log(2u / (1 + u));
    alpha-divergence: (1 - exp(-alpha * h)) / alpha.
    """
    if divergence == "reverse_kl":
        return h
    if divergence == "forward_kl":
        return -torch.exp(-h)
    if divergence == "js":
        return h - torch.nn.functional.softplus(h) + torch.log(torch.tensor(2.0, dtype=h.dtype, device=h.device))
    return (1.0 - torch.exp(-alpha * h)) / alpha


@define_loss("dpo", options=DPOOptions, declarations=_declare)
def dpo(scores: Scores, options: DPOOptions) -> LossOutput:
    """Direct Preference Optimization: -log sigma(beta * h_w - beta * h_l) (paper eq. 7).

    Scores are pairs: column 0 chosen, column 1 rejected, shapes (N, 2). With ``label_smoothing`` eps > 0 this is
    conservative DPO, -(1 - eps) log sigma(beta d) - eps log sigma(-beta d). The implicit rewards are
    beta * f'(pi/pi_ref), which is beta * h for the default reverse KL.
    """
    h = scores.log_ratio(reference_free=options.reference_free, length_normalize=options.length_normalize)
    rewards = options.beta * f_divergence_reward(h, options.divergence, options.alpha)  # (N, 2)
    margin = rewards[:, 0] - rewards[:, 1]
    return LossOutput(loss=bradley_terry_nll(margin, options.label_smoothing), rewards=rewards.detach())
