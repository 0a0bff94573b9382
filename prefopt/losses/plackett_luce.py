"""Plackett-Luce: the listwise K-way ranking loss of the DPO paper (Rafailov et al. 2023, App. A.3)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.losses.functional import plackett_luce_nll
from prefopt.types import LossOutput, Scores

TieMethod = Literal["breslow", "error"]


class PlackettLuceOptions(LossOptions):
    beta: float = Field(0.1, gt=0, description="KL-penalty strength; 0.1 as in the paper (App. B)")
    reference_free: bool = Field(False, description="use log pi_theta alone as the log-ratio (pi_ref uniform)")
    length_normalize: bool = Field(False, description="divide log-probs by response length")
    ties: TieMethod = Field(
        "breslow",
        description="tied ranks: 'breslow' (each tied response shares the risk set of its group, as for tied "
        "event times in the Cox partial likelihood) or 'error' (raise ValueError)",
    )


def _declare(options: PlackettLuceOptions) -> Declarations:
    return Declarations(
        needs_reference=not options.reference_free,
        length_normalized=options.length_normalize,
        listwise=True,
        bounded_below=0.0,  # a negative log-likelihood
        accepts_ties=options.ties == "breslow",
        reward_difference=not options.length_normalize,
        bradley_terry=not options.length_normalize,
        # Breslow pulls a tied best group together: raising one of two tied best responses raises the loss
        monotone=options.ties == "error",
    )


def _reject_ties(ranks: torch.Tensor, valid: torch.Tensor) -> None:
    same = (ranks.unsqueeze(1) == ranks.unsqueeze(2)) & valid.unsqueeze(1) & valid.unsqueeze(2)  # (B, K, K)
    same &= ~torch.eye(ranks.shape[1], dtype=torch.bool, device=ranks.device)
    if same.any():
        row = int(same.any(dim=2).any(dim=1).nonzero()[0])
        raise ValueError(
            f"plackett_luce: prompt {row} of the batch has tied ranks {ranks[row].tolist()}, and option "
            "ties='error' refuses ties; use ties='breslow' to accept them"
        )


@define_loss("plackett_luce", options=PlackettLuceOptions, declarations=_declare)
def plackett_luce(scores: Scores, options: PlackettLuceOptions) -> LossOutput:
    """Plackett-Luce ranking loss: -sum_k ( s_k - logsumexp_{j >= k} s_j ), s = beta * h (DPO paper App. A.3).

    Scores are (B, K) rankings with ``valid`` marking real slots (ragged K) and ``ranks`` giving the order
    (ties allowed with ``ties="breslow"``). p(tau) = prod_k exp(s_tau(k)) / sum_{j >= k} exp(s_tau(j)) is never
    formed as a product of exponentials: the log-likelihood is computed with logsumexp over each response's risk
    set. At K = 2 without ties this is exactly the DPO loss -log sigma(beta * h_w - beta * h_l).

    Returns the (B,) per-prompt losses and the rewards beta * h, (B, K).
    """
    if options.ties == "error":
        _reject_ties(scores.ranks, scores.valid)
    h = scores.log_ratio(reference_free=options.reference_free, length_normalize=options.length_normalize)
    rewards = options.beta * h  # (B, K)
    loss = plackett_luce_nll(rewards, scores.ranks, scores.valid)
    return LossOutput(loss=loss, rewards=rewards.detach())
