"""Pure tensor math of the preference objectives, shared by the loss plugins.

Every function takes (N,) tensors for N pairs or (B, K) for B ranked prompts and returns per-example values;
none reduces over the batch. Equation numbers refer to Rafailov et al. 2023 (arXiv 2305.18290).
"""

from __future__ import annotations

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
