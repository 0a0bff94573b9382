"""Batch invariances (docs/theory.md §8.7): the mean over prompts, the order of prompts, and padding slots."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case
from prefopt.verify.property import register_property
from prefopt.verify.search import EXACT_MAGNITUDE, Budget, Violation, exact_cases, expect_close, holds, loss_value


def _skip_batch_mean(loss: Loss) -> str | None:
    return None if loss.declarations.per_prompt else "the loss couples the prompts of a batch (per_prompt False)"


@register_property(
    "batch_mean",
    "the loss of a batch is the mean of its prompts' losses (8.7)",
    skip=_skip_batch_mean,
)
def batch_mean(loss: Loss, budget: Budget) -> None:
    def test(case: Case) -> None:
        per_example = [loss_value(loss, case.select([b])) for b in range(case.batch_size)]
        mean = math.fsum(per_example) / len(per_example)
        expect_close(loss_value(loss, case), mean, "loss of the (padded, ragged) batch vs mean of its prompts alone")

    holds(exact_cases(loss, batch=(2, 4), ragged=True), test, budget)


@register_property("batch_order", "the loss does not depend on the order of the prompts in a batch (8.7)")
def batch_order(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, list[int]]) -> None:
        case, order = example
        expect_close(loss_value(loss, case.select(order)), loss_value(loss, case), f"loss after reordering by {order}")

    strategy = exact_cases(loss, batch=(2, 4), ragged=True).flatmap(
        lambda case: st.tuples(st.just(case), st.permutations(list(range(case.batch_size))))
    )
    holds(strategy, test, budget)


@register_property("k_padding", "padding slots (valid False) change neither the loss nor the gradients (8.7)")
def k_padding(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, int, float]) -> None:
        case, extra, pad_value = example
        scores, leaf = case.scores(extra_slots=extra, pad_value=pad_value, grad=True)
        value = loss(scores).loss
        expected = loss_value(loss, case)
        expect_close(float(value.detach()), expected, f"loss with {extra} extra padding slots holding {pad_value}")
        value.backward()
        if not torch.isfinite(leaf.grad).all():
            raise Violation(f"padding makes the gradient non-finite: {leaf.grad.tolist()}")
        pad_grad = leaf.grad[~scores.valid].flatten()
        if pad_grad.abs().sum() > 0:
            raise Violation(f"padding slots receive gradient {pad_grad.tolist()}")

    strategy = st.tuples(
        exact_cases(loss, batch=(1, 3), ragged=True),
        st.integers(1, 2),
        st.floats(-EXACT_MAGNITUDE, 0.0),
    )
    holds(strategy, test, budget)
