"""Pure tensor math of the preference objectives, shared by the loss plugins.

Every function takes (N,) tensors for N pairs or (B, K) for B ranked prompts and returns per-example values;
none reduces over the batch. Equation numbers refer to Rafailov et al. 2023 (arXiv 2305.18290).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def bradley_terry_nll(margin: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Negative log-likelihood of the Bradley-Terry model, paper eq. 7 (conservative with smoothing eps).

    Args:
        margin: (N,) reward difference r_w - r_l, e.g. beta * (h_w - h_l).
        label_smoothing: eps, the assumed probability that the label is flipped (cDPO).

    Returns:
        (N,) -(1 - eps) * log sigma(margin) - eps * log sigma(-margin).
    """
    loss = -F.logsigmoid(margin)
    if label_smoothing:
        loss = (1.0 - label_smoothing) * loss - label_smoothing * F.logsigmoid(-margin)
    return loss


def log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0, computed stably (Maechler 2012): log(-expm1(x)) near 0, log1p(-exp(x)) below -log 2.

    Args:
        x: (..) log-probabilities, strictly negative.

    Returns:
        (..) log(1 - e^x), the log-probability of the complementary event.
    """
    near_zero = x > -math.log(2.0)
    far = torch.where(near_zero, torch.full_like(x, -1.0), x)  # keeps the unused branch's gradient finite
    return torch.where(near_zero, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(far)))


def plackett_luce_nll(scores: Tensor, ranks: Tensor, valid: Tensor) -> Tensor:
    """Negative log-likelihood of a ranking under Plackett-Luce (DPO paper App. A.3), ties by Breslow.

    L = -sum_k ( s_k - logsumexp_{j >= k} s_j ): each response, in rank order, is "chosen" among itself and
    everything ranked below it (its risk set). A response i contributes log sigma(s_i - logsumexp_{j in R_i, j != i} s_j)
    = s_i - logsumexp_{j in R_i} s_j, where R_i holds the valid slots ranked no better than i. For a strict ranking
    this is the reverse cumulative logsumexp from the worst end; for a tied group D every member shares the risk
    set of D and everything worse, which is Breslow's approximation (sum_{i in D} s_i - |D| logsumexp_{R_D} s).
    The risk sets are read from ``ranks``, so the column order does not matter. The worst response's term is
    exactly 0, and at K = 2 the value is exactly -log sigma(s_0 - s_1), the DPO loss.

    Args:
        scores: (B, K) s = beta * h, the implicit rewards.
        ranks: (B, K) integer ranks, 0 the best.
        valid: (B, K) bool, False on padding slots (they appear in no risk set and contribute nothing).

    Returns:
        (B,) the per-prompt loss.
    """
    slots = scores.shape[1]
    not_self = ~torch.eye(slots, dtype=torch.bool, device=scores.device)  # (K, K)
    risk = valid.unsqueeze(1) & (ranks.unsqueeze(1) >= ranks.unsqueeze(2)) & not_self  # (B, K, K): j in R_i, j != i
    others = scores.unsqueeze(1).masked_fill(~risk, -math.inf).logsumexp(dim=2)  # (B, K); -inf for empty sets
    terms = F.logsigmoid(scores - others).masked_fill(~valid, 0.0)  # (B, K)
    return -terms.sum(dim=1)
