"""The reference and reward differences: a declared reference is read, an undeclared one is ignored, and adding
f(x) to a prompt's policy or reference log-probs changes nothing (Definition 1, Lemma 1; docs/theory.md §8.3, §8.11)."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, Row, log_probs, shift_row
from prefopt.verify.property import register_property, unless_declared
from prefopt.verify.search import (
    EXACT_MAGNITUDE,
    Budget,
    Violation,
    close,
    exact_cases,
    expect_close,
    holds_over_options,
    loss_value,
)

REFERENCE_PROBES = 16


@register_property(
    "reference_used",
    "a loss that declares needs_reference does depend on pi_ref",
    skip=unless_declared("needs_reference"),
)
def reference_used(loss: Loss, budget: Budget) -> None:
    """Deterministic probes: moving the reference log-probs of random batches must change the loss of at least
    one of them (a loss that only saturates or clips on some inputs still moves on the others)."""
    generator = torch.Generator().manual_seed(budget.seed)
    for _ in range(REFERENCE_PROBES):
        case = _probe_case(loss, generator)
        moved = case.map_rows(
            lambda row: replace(
                row, reference=tuple(r - float(torch.rand(1, generator=generator)) for r in row.reference)
            )
        )
        if not close(loss_value(loss, moved), loss_value(loss, case), 1e-9):
            return
    raise Violation(
        f"declares needs_reference, yet moving pi_ref changed the loss on none of {REFERENCE_PROBES} batches"
    )


def _skip_reference_ignored(loss: Loss) -> str | None:
    return "the loss declares needs_reference" if loss.declarations.needs_reference else None


@register_property(
    "reference_ignored",
    "a loss that declares needs_reference=False gives the same loss and gradients whatever Scores.reference "
    "holds, None included (8.11)",
    skip=_skip_reference_ignored,
)
def reference_ignored(loss: Loss, budget: Budget) -> None:
    """A reference-free loss may be trained next to one that needs pi_ref (a weighted sum), and then receives
    the reference log-probs too: it must not read them (e.g. through ``Scores.log_ratio()``)."""

    def test(drawn: Loss, example: tuple[Case, tuple[tuple[float, ...], ...]]) -> None:
        case, references = example
        given = Case(tuple(replace(row, reference=ref) for row, ref in zip(case.rows, references, strict=True)))
        without, without_leaf = case.scores(grad=True)
        with_reference, with_leaf = given.scores(grad=True)
        value_without, value_with = drawn(without).loss, drawn(with_reference).loss
        expect_close(float(value_with.detach()), float(value_without.detach()), "loss with a reference vs with None")
        value_without.backward()
        value_with.backward()
        if not torch.allclose(with_leaf.grad, without_leaf.grad, rtol=1e-7, atol=1e-12):
            raise Violation(
                f"a reference changes the gradient: {with_leaf.grad.tolist()} vs {without_leaf.grad.tolist()} "
                "without one"
            )

    strategy = exact_cases(loss).flatmap(
        lambda case: st.tuples(
            st.just(case), st.tuples(*[log_probs(EXACT_MAGNITUDE, row.num_slots) for row in case.rows])
        )
    )
    holds_over_options(loss, strategy, test, budget)


def _probe_case(loss: Loss, generator: torch.Generator) -> Case:
    """A batch of 4 prompts, K = 2 (pairwise) or 3 (listwise), log-probs in [-3, 0]."""
    slots = 3 if loss.declarations.listwise else 2

    def draw(size: int) -> tuple[float, ...]:
        return tuple((-3.0 * torch.rand(size, generator=generator, dtype=torch.float64)).tolist())

    rows = []
    for _ in range(4):
        lengths = tuple(int(n) for n in torch.randint(1, 4, (slots,), generator=generator))
        tokens = tuple(draw(n) for n in lengths) if loss.declarations.needs_token_logps else None
        policy = tuple(math.fsum(t) for t in tokens) if tokens else draw(slots)
        rows.append(Row(policy=policy, reference=draw(slots), lengths=lengths, tokens=tokens))
    return Case(tuple(rows))


def _check_shift(loss: Loss, budget: Budget, target: str) -> None:
    """Add f(x) <= 0 (so shifted log-probs stay log-probs) to every ``target`` log-prob of prompt x."""

    def test(drawn: Loss, example: tuple[Case, list[float]]) -> None:
        case, shifts = example

        def move(index_row):
            index, row = index_row
            f = shifts[index]
            return shift_row(row, f if target == "policy" else 0.0, f if target == "reference" else 0.0)

        moved = Case(tuple(move(item) for item in enumerate(case.rows)))
        expect_close(loss_value(drawn, moved), loss_value(drawn, case), f"loss after adding f(x)={shifts} to {target}")

    strategy = st.tuples(exact_cases(loss), st.lists(st.floats(-10.0, 0.0), min_size=3, max_size=3))
    holds_over_options(loss, strategy, test, budget)


def _skip_shift_policy(loss: Loss) -> str | None:
    if not loss.declarations.reward_difference:
        return "the loss does not declare reward_difference"
    if loss.declarations.needs_token_logps:
        return "token-level policy log-probs cannot be shifted per prompt consistently"
    return None


@register_property(
    "shift_policy",
    "adding f(x) to a prompt's policy log-probs changes nothing (Lemma 1, 8.3)",
    skip=_skip_shift_policy,
)
def shift_policy(loss: Loss, budget: Budget) -> None:
    _check_shift(loss, budget, "policy")


def _skip_shift_reference(loss: Loss) -> str | None:
    if not loss.declarations.reward_difference:
        return "the loss does not declare reward_difference"
    return None if loss.declarations.needs_reference else "the loss is reference-free"


@register_property(
    "shift_reference",
    "adding f(x) to a prompt's reference log-probs changes nothing (Lemma 1, 8.3)",
    skip=_skip_shift_reference,
)
def shift_reference(loss: Loss, budget: Budget) -> None:
    _check_shift(loss, budget, "reference")
