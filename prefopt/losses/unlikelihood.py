"""Unlikelihood training, the DPO paper's baseline (section 6), after Welleck et al. 2019."""

from __future__ import annotations

import math

from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.losses.functional import log1mexp
from prefopt.types import LossOutput, Scores

MAX_PROB = 1.0 - 1e-5  # p(l_t) is clamped here so that log(1 - p) stays finite, as in Welleck et al.'s code


class UnlikelihoodOptions(LossOptions):
    alpha: float = Field(1.0, ge=0, description="weight of the unlikelihood term on the rejected response")


@define_loss(
    "unlikelihood",
    options=UnlikelihoodOptions,
    declarations=Declarations(
        needs_reference=False,
        needs_token_logps=True,
        listwise=False,
        bounded_below=0.0,  # -log p(w_t) >= 0 and -log(1 - p(l_t)) >= 0
        reward_difference=False,
        bradley_terry=False,
        monotone=True,
    ),
)
def unlikelihood(scores: Scores, options: UnlikelihoodOptions) -> LossOutput:
    """Unlikelihood: sum_t -log p(w_t) + alpha * sum_t -log(1 - p(l_t)), per pair, no reference.

    Welleck et al. 2019, "Neural Text Generation with Unlikelihood Training", arXiv 1908.04319, used as a
    baseline by Rafailov et al. 2023 (arXiv 2305.18290, section 6). Reads the token-level log-probs
    ``token_policy`` (N, 2, T) under ``token_mask`` (N, 2, T); column 0 chosen. log(1 - p) is computed from
    log p as log1mexp(log p), with p clamped to at most 1 - 1e-5. Returns (N,) losses and the rewards (N, 2)
    r(y) = sum_t log p(y_t) - alpha * sum_t log(1 - p(y_t)), for which exchanging the two responses changes
    the loss by exactly r_w - r_l: the loss prefers the order of the higher reward.
    """
    token, mask = scores.token_policy, scores.token_mask  # (N, 2, T)
    log_p = token.masked_fill(~mask, 0.0).sum(dim=2)  # (N, 2) sum_t log p(y_t)
    log_not = log1mexp(token.clamp(max=math.log(MAX_PROB)))  # (N, 2, T) log(1 - p(y_t))
    log_not = log_not.masked_fill(~mask, 0.0).sum(dim=2)  # (N, 2)
    loss = -log_p[:, 0] - options.alpha * log_not[:, 1]  # (N,)
    rewards = log_p - options.alpha * log_not
    return LossOutput(loss=loss, rewards=rewards.detach())
