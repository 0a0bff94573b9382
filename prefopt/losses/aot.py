"""AOT: alignment via optimal transport, distributional preference alignment (Melnyk et al. 2024).

Both losses couple the examples of a batch: they sort quantities across the batch and pair order statistics,
so the i-th output is the loss at the i-th sorted position, not of the i-th pair. The batch mean is invariant
to the order of the batch, and every per-position loss is non-increasing in each chosen log-prob (order
statistics are non-decreasing in each input).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.losses.functional import bradley_terry_nll
from prefopt.types import LossOutput, Scores


class AOTOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="scale of the sorted margins")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="eps of the conservative logistic loss")


def _declarer(paired: bool):
    def declare(options: AOTOptions) -> Declarations:
        return Declarations(
            needs_reference=True,
            listwise=False,
            bounded_below=0.0,  # the conservative logistic loss of each sorted position is >= 0
            # paired: only the within-pair margins are sorted, so a shift f(x) of one prompt changes nothing
            reward_difference=paired,
            bradley_terry=False,  # equals DPO only for a batch of one pair
            monotone=options.label_smoothing == 0,
            per_prompt=False,  # sorting across the batch couples its prompts
        )

    return declare


def _sorted_margin_loss(upper: Tensor, lower: Tensor, options: AOTOptions) -> Tensor:
    """(N,) cDPO loss of beta * (sort(upper) - sort(lower)), the sorts ascending over the batch."""
    delta = torch.sort(upper).values - torch.sort(lower).values
    return bradley_terry_nll(options.beta * delta, options.label_smoothing)


@define_loss("aot", options=AOTOptions, declarations=_declarer(paired=True))
def aot(scores: Scores, options: AOTOptions) -> LossOutput:
    """AOT, paired: l(beta * (sort(m)_i - sort(m_ref)_i)), m = log pi(y_w) - log pi(y_l), m_ref the same under pi_ref.

    Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal Transport", arXiv 2406.05882:
    first-order stochastic dominance of the policy's margins over the reference's, through the 1-D optimal
    transport (sorting) of the two samples; l(z) = -(1 - eps) log sigma(z) - eps log sigma(-z).
    Scores are pairs, shapes (N, 2). Returns (N,) per-sorted-position losses and rewards beta * h, (N, 2).
    """
    margin = scores.policy[:, 0] - scores.policy[:, 1]  # (N,)
    ref_margin = scores.reference[:, 0] - scores.reference[:, 1]
    rewards = options.beta * scores.log_ratio()
    return LossOutput(loss=_sorted_margin_loss(margin, ref_margin, options), rewards=rewards.detach())


@define_loss("aot_unpaired", options=AOTOptions, declarations=_declarer(paired=False))
def aot_unpaired(scores: Scores, options: AOTOptions) -> LossOutput:
    """AOT, unpaired: l(beta * (sort(h_w)_i - sort(h_l)_i)), h the log-ratios (Melnyk et al. 2024, arXiv 2406.05882).

    Stochastic dominance of the chosen log-ratios over the rejected ones, each sorted on its own across the batch;
    l(z) = -(1 - eps) log sigma(z) - eps log sigma(-z). Scores are pairs, shapes (N, 2). Returns (N,)
    per-sorted-position losses and rewards beta * h, (N, 2).
    """
    h = scores.log_ratio()  # (N, 2)
    return LossOutput(loss=_sorted_margin_loss(h[:, 0], h[:, 1], options), rewards=(options.beta * h).detach())
