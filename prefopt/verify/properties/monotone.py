"""Monotonicity (docs/theory.md §8.5): raising the best response's log-prob never raises the loss."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, Row
from prefopt.verify.property import register_property, unless_declared
from prefopt.verify.search import Budget, Violation, exact_cases, holds_over_options, loss_value


@register_property(
    "monotone",
    "raising the best response's log-prob never raises the loss (8.5)",
    skip=unless_declared("monotone"),
)
def monotone(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[Case, float]) -> None:
        case, fraction = example

        def raise_best(row: Row) -> Row:
            scale = 1.0 - fraction  # moving a log-prob toward 0 raises it and keeps it <= 0
            if row.tokens is None:
                return replace(row, policy=(row.policy[0] * scale, *row.policy[1:]))
            best = tuple(t * scale for t in row.tokens[0])
            return replace(row, policy=(math.fsum(best), *row.policy[1:]), tokens=(best, *row.tokens[1:]))

        before, after = loss_value(drawn, case), loss_value(drawn, case.map_rows(raise_best))
        if after > before + 1e-9 * (1.0 + abs(before)):
            raise Violation(f"raising the best response's log-prob raised the loss from {before!r} to {after!r}")

    holds_over_options(loss, st.tuples(exact_cases(loss), st.floats(0.0, 1.0)), test, budget)
