"""Decompose K-way rankings into preference pairs, for the pairwise-only losses and the pair metrics.

The DPO paper's sentiment experiment turns 4 ranked samples into all 6 pairs; adjacent pairs, best-vs-rest and
best-vs-worst are the other common schemes. Pairs between tied responses carry no preference and are never formed, and
padding slots (``valid`` False) never take part.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

PairScheme = Literal["all", "adjacent", "best_vs_rest", "best_vs_worst"]
PAIR_SCHEMES: tuple[str, ...] = ("all", "adjacent", "best_vs_rest", "best_vs_worst")


def ranking_pairs(ranks: Tensor, valid: Tensor, scheme: PairScheme = "all") -> tuple[Tensor, Tensor]:
    """Enumerate the preference pairs of each prompt's ranking.

    Args:
        ranks: (B, K) integer ranks, 0 the best; equal ranks are ties.
        valid: (B, K) bool, False on padding slots.
        scheme: ``"all"`` every strictly ordered pair; ``"adjacent"`` pairs between consecutive rank levels;
            ``"best_vs_rest"`` each best-ranked response against every worse one; ``"best_vs_worst"`` each
            best-ranked response against each worst-ranked one.

    Returns:
        index: (P, 2) long, P = K * (K - 1); row p is (better slot, worse slot), the same for every prompt.
        pair_valid: (B, P) bool, True where that ordered pair is a preference of prompt b under ``scheme``.
    """
    if scheme not in PAIR_SCHEMES:
        raise ValueError(f"unknown pair scheme {scheme!r}; choose one of {', '.join(PAIR_SCHEMES)}")
    slots = ranks.shape[1]
    better, worse = zip(*[(i, j) for i in range(slots) for j in range(slots) if i != j], strict=True)
    index = torch.tensor([better, worse], dtype=torch.long, device=ranks.device).T  # (P, 2)

    rank_b, rank_w = ranks[:, index[:, 0]], ranks[:, index[:, 1]]  # (B, P)
    pair_valid = valid[:, index[:, 0]] & valid[:, index[:, 1]] & (rank_b < rank_w)
    if scheme in ("best_vs_rest", "best_vs_worst"):
        pair_valid &= rank_b == best_rank(ranks, valid)
    if scheme == "best_vs_worst":
        pair_valid &= rank_w == worst_rank(ranks, valid)
    elif scheme == "adjacent":
        level = rank_levels(ranks, valid)
        pair_valid &= level[:, index[:, 1]] == level[:, index[:, 0]] + 1
    return index, pair_valid


def best_rank(ranks: Tensor, valid: Tensor) -> Tensor:
    """(B, 1) the best (smallest) rank among each prompt's valid slots."""
    return ranks.masked_fill(~valid, torch.iinfo(ranks.dtype).max).min(dim=1, keepdim=True).values


def worst_rank(ranks: Tensor, valid: Tensor) -> Tensor:
    """(B, 1) the worst (largest) rank among each prompt's valid slots."""
    return ranks.masked_fill(~valid, torch.iinfo(ranks.dtype).min).max(dim=1, keepdim=True).values


def rank_levels(ranks: Tensor, valid: Tensor) -> Tensor:
    """(B, K) dense rank level of each slot: the number of distinct valid ranks strictly better than its own."""
    big = torch.iinfo(ranks.dtype).max
    masked = ranks.masked_fill(~valid, big)
    # a slot is the first holder of its rank value if no earlier valid slot has the same rank
    same = masked.unsqueeze(2) == masked.unsqueeze(1)  # (B, K, K): [b, i, j] rank_i == rank_j
    earlier = torch.ones_like(same[0]).tril(diagonal=-1).bool()  # [i, j] j < i
    first_of_rank = ~(same & earlier).any(dim=2) & valid  # (B, K)
    strictly_better = masked.unsqueeze(1) < masked.unsqueeze(2)  # [b, i, j] rank_j < rank_i
    return (strictly_better & first_of_rank.unsqueeze(1)).sum(dim=2)
