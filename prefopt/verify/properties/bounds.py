"""A lower bound (docs/theory.md §8.14): a loss that declares ``bounded_below`` b is >= b for every input, extreme ones
included.

Minimising a loss that is unbounded below drives it to -infinity along some direction of the scores instead of
towards the preferences (unlikelihood written with + log p(l) in place of - log(1 - p(l)) is minimised by
p(l) -> 0 alone, without limit). The check evaluates the loss in float64 on log-probs reaching -1e4, where a
term that falls without limit is far below any bound.
"""

from __future__ import annotations

from prefopt.losses import Loss
from prefopt.verify.cases import Case, cases
from prefopt.verify.properties.stability import EXTREME_MAGNITUDE
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, holds_over_options, loss_value


def _skip_bounded_below(loss: Loss) -> str | None:
    return None if loss.declarations.bounded_below is not None else "the loss declares no bounded_below"


@register_property(
    "bounded_below",
    "the loss is never below its declared bounded_below, for log-probs down to -1e4 (8.14)",
    skip=_skip_bounded_below,
)
def bounded_below(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        bound = drawn.declarations.bounded_below
        value = loss_value(drawn, case)
        if not value >= bound - 1e-9 * (1.0 + abs(bound)):
            raise Violation(f"the loss is {value!r}, below its declared bound {bound!r}")

    holds_over_options(loss, cases(loss.declarations, magnitude=EXTREME_MAGNITUDE, ragged=True), test, budget)
