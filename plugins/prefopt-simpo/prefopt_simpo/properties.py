"""The property SimPO claims beyond prefopt's built-in ones, shipped beside the loss as a ``prefopt.properties``
plugin (this module is the entry point; ``prefopt verify simpo`` runs it after the built-ins).

SimPO's reward is the length-normalised log-prob r(y) = beta / |y| * log pi_theta(y|x) (Meng et al. 2024, eq. 4),
the average token log-prob scaled by beta. Adding one constant c to every token log-prob of a prompt's responses
adds c |y| to each summed log-prob, so every reward of the prompt moves by the same beta * c and every margin
r(y_w) - r(y_l) stays put: the loss must not change. It is Lemma 1 (docs/theory.md §5.2) for rewards that differ
by a per-token f(x). A SimPO that sums log-probs, or divides by the wrong length, moves.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify import Budget, register_property, unless_claimed
from prefopt.verify.cases import Case, Row
from prefopt.verify.search import exact_cases, expect_close, holds, loss_value
from prefopt_simpo import PER_TOKEN_SHIFT

MAX_SHIFT = 10.0  # c is drawn from [-MAX_SHIFT, 0], so the moved log-probs stay <= 0


def shift_tokens(row: Row, shift: float) -> Row:
    """Add ``shift`` to every token log-prob of the row's responses: ``shift * lengths[k]`` to response k's summed
    policy log-prob (the reference is untouched)."""
    if row.tokens is None:
        return replace(row, policy=tuple(p + shift * n for p, n in zip(row.policy, row.lengths, strict=True)))
    tokens = tuple(tuple(t + shift for t in response) for response in row.tokens)
    return replace(row, policy=tuple(math.fsum(t) for t in tokens), tokens=tokens)


@register_property(
    PER_TOKEN_SHIFT,
    "adding c to every token log-prob of a prompt's responses (c*|y| to each log pi(y)) changes nothing, since "
    "every reward beta*log pi(y)/|y| moves by beta*c (SimPO eq. 4; Lemma 1, docs/theory.md §5.2)",
    skip=unless_claimed(PER_TOKEN_SHIFT),
)
def per_token_shift(loss: Loss, budget: Budget) -> None:
    def test(example: tuple[Case, tuple[float, ...]]) -> None:
        case, shifts = example
        moved = Case(tuple(shift_tokens(row, c) for row, c in zip(case.rows, shifts, strict=True)))
        expect_close(loss_value(loss, moved), loss_value(loss, case), f"loss after adding c = {shifts} per token")

    shift = st.floats(-MAX_SHIFT, 0.0)
    strategy = exact_cases(loss).flatmap(lambda case: st.tuples(st.just(case), st.tuples(*[shift] * case.batch_size)))
    holds(strategy, test, budget)
