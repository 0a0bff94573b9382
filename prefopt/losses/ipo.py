"""IPO: identity preference optimisation, a squared loss on the log-ratio margin (Azar et al. 2023)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.types import LossOutput, Scores


class IPOOptions(LossOptions):
    tau: float = Field(0.1, gt=0, description="regularisation strength tau; the margin target is 1 / (2 tau)")
    log_ratio: Literal["average", "sum"] = Field(
        "average",
        description="'average': per-token mean log-probs, as in the IPO authors' and TRL's implementations; "
        "'sum': summed log-probs, as in the paper's notation",
    )


def _declare(options: IPOOptions) -> Declarations:
    average = options.log_ratio == "average"
    return Declarations(
        needs_reference=True,
        length_normalized=average,
        listwise=False,
        bounded_below=0.0,  # a square
        reward_difference=not average,
        bradley_terry=False,
        monotone=False,  # the square rises again once the margin passes 1 / (2 tau)
        target_margin=1.0 / (2.0 * options.tau),  # eq. 17: the square vanishes at h_w - h_l = 1 / (2 tau)
    )


@define_loss("ipo", options=IPOOptions, declarations=_declare)
def ipo(scores: Scores, options: IPOOptions) -> LossOutput:
    """IPO: (h_w - h_l - 1 / (2 tau))^2 (Azar et al. 2023, arXiv 2310.12036, eq. 17).

    Scores are pairs, shapes (N, 2), column 0 chosen. With ``log_ratio="average"`` each log-prob is divided by
    its response length before the log-ratio is taken. Returns (N,) losses and rewards tau * h, (N, 2).
    """
    h = scores.log_ratio(length_normalize=options.log_ratio == "average")  # (N, 2)
    loss = (h[:, 0] - h[:, 1] - 1.0 / (2.0 * options.tau)) ** 2
    return LossOutput(loss=loss, rewards=(options.tau * h).detach())
