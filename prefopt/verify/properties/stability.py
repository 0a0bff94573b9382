"""Numerical stability (docs/theory.md §8.6): finite loss and gradients at extreme log-ratios in low precision."""

from __future__ import annotations

import torch

from prefopt.losses import Loss
from prefopt.verify.cases import Case, cases
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, holds_over_options

EXTREME_MAGNITUDE = 1e4  # log-ratio range of the stability checks


def _check_finite(loss: Loss, budget: Budget, dtype: torch.dtype) -> None:
    def test(drawn: Loss, case: Case) -> None:
        scores, leaf = case.scores(dtype, grad=True)
        value = drawn(scores).loss
        if not torch.isfinite(value):
            raise Violation(f"loss is {float(value.detach())} in {dtype}")
        value.backward()
        if not torch.isfinite(leaf.grad).all():
            raise Violation(f"gradient w.r.t. the policy log-probs is not finite in {dtype}: {leaf.grad.tolist()}")

    holds_over_options(loss, cases(loss.declarations, magnitude=EXTREME_MAGNITUDE), test, budget)


@register_property("finite_float32", "finite loss and gradients for |log-ratio| up to 1e4 in float32 (8.6)")
def finite_float32(loss: Loss, budget: Budget) -> None:
    _check_finite(loss, budget, torch.float32)


@register_property("finite_bfloat16", "finite loss and gradients for |log-ratio| up to 1e4 in bfloat16 (8.6)")
def finite_bfloat16(loss: Loss, budget: Budget) -> None:
    _check_finite(loss, budget, torch.bfloat16)
