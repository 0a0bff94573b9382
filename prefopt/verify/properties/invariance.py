"""Batch invariances (docs/theory.md §8.7): the mean over prompts (values and gradients), the order of prompts,
and padding slots."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case
from prefopt.verify.property import register_property
from prefopt.verify.search import (
    EXACT_MAGNITUDE,
    Budget,
    Violation,
    exact_cases,
    expect_close,
    holds_over_options,
    loss_value,
)


def _skip_batch_mean(loss: Loss) -> str | None:
    return None if loss.declarations.per_prompt else "the loss couples the prompts of a batch (per_prompt False)"


@register_property(
    "batch_mean",
    "the loss of a batch, and each prompt's gradient, are those of its prompts alone, averaged (8.7)",
    skip=_skip_batch_mean,
)
def batch_mean(loss: Loss, budget: Budget) -> None:
    """Values and gradients: a loss whose values are per prompt may still couple the prompts through its gradient
    (a batch statistic whose value is added back detached), which trains each prompt on the others."""

    def test(drawn: Loss, case: Case) -> None:
        scores, leaf = case.scores(grad=True)
        value = drawn(scores).loss
        alone = [prompt_loss_and_gradient(drawn, case.select([b])) for b in range(case.batch_size)]
        mean = math.fsum(v for v, _ in alone) / len(alone)
        expect_close(float(value.detach()), mean, "loss of the (padded, ragged) batch vs mean of its prompts alone")
        (value * case.batch_size).backward()  # each prompt's gradient, undivided by the batch size
        for b, (_, gradient) in enumerate(alone):
            in_batch = leaf.grad[b][tuple(slice(0, n) for n in gradient.shape)]
            if not torch.allclose(in_batch, gradient, rtol=1e-6, atol=1e-9):
                raise Violation(
                    f"prompt {b}'s gradient in the batch is {in_batch.tolist()}, alone it is {gradient.tolist()}"
                )

    holds_over_options(loss, exact_cases(loss, batch=(2, 4), ragged=True), test, budget)


def prompt_loss_and_gradient(loss: Loss, prompt: Case) -> tuple[float, torch.Tensor]:
    """The loss of a one-prompt case and its gradient w.r.t. the policy leaf, (K,) or (K, T)."""
    scores, leaf = prompt.scores(grad=True)
    value = loss(scores).loss
    value.backward()
    return float(value.detach()), leaf.grad[0]


@register_property("batch_order", "the loss does not depend on the order of the prompts in a batch (8.7)")
def batch_order(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[Case, list[int]]) -> None:
        case, order = example
        expect_close(
            loss_value(drawn, case.select(order)), loss_value(drawn, case), f"loss after reordering by {order}"
        )

    strategy = exact_cases(loss, batch=(2, 4), ragged=True).flatmap(
        lambda case: st.tuples(st.just(case), st.permutations(list(range(case.batch_size))))
    )
    holds_over_options(loss, strategy, test, budget)


@register_property("k_padding", "padding slots (valid False) change neither the loss nor the gradients (8.7)")
def k_padding(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[Case, int, float]) -> None:
        case, extra, pad_value = example
        scores, leaf = case.scores(extra_slots=extra, pad_value=pad_value, grad=True)
        value = drawn(scores).loss
        expected = loss_value(drawn, case)
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
    holds_over_options(loss, strategy, test, budget)
