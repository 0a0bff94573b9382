"""Length normalisation (docs/theory.md §8.9): the per-token Lemma 1.

A length-normalised loss reads h(y) = log pi_theta(y|x) / |y| - log pi_ref(y|x) / |y|. Adding c * |y| to both
log-probs of a response adds c to each per-token log-prob and leaves h unchanged, so the loss must not move; a
loss that divides only one side by |y| moves.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, Row
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, exact_cases, expect_close, holds_over_options, loss_value

MAX_SLOPE = 10.0  # c is drawn from [-MAX_SLOPE, 0], so the moved log-probs stay <= 0


def add_per_token(row: Row, slopes: tuple[float, ...]) -> Row:
    """Add ``slopes[k] * lengths[k]`` to response k's policy and reference log-probs (``slopes[k]`` to each token)."""
    policy = tuple(p + c * n for p, c, n in zip(row.policy, slopes, row.lengths, strict=True))
    reference = tuple(r + c * n for r, c, n in zip(row.reference, slopes, row.lengths, strict=True))
    if row.tokens is None:
        return replace(row, policy=policy, reference=reference)
    tokens = tuple(tuple(t + c for t in response) for response, c in zip(row.tokens, slopes, strict=True))
    return replace(row, policy=tuple(math.fsum(t) for t in tokens), reference=reference, tokens=tokens)


def _skip_length_normalization(loss: Loss) -> str | None:
    if not loss.declarations.length_normalized:
        return "the loss does not declare length_normalized"
    if not loss.declarations.needs_reference:
        return "the loss is reference-free: no reference log-prob moves with the policy's"
    return None


@register_property(
    "length_normalization",
    "adding c*|y| to both the policy and the reference log-prob of a response changes nothing (8.9)",
    skip=_skip_length_normalization,
)
def length_normalization(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[Case, tuple[tuple[float, ...], ...]]) -> None:
        case, slopes = example
        moved = Case(tuple(add_per_token(row, c) for row, c in zip(case.rows, slopes, strict=True)))
        expect_close(
            loss_value(drawn, moved), loss_value(drawn, case), f"loss after adding c*|y|, c = {slopes}, to both sides"
        )

    slope = st.floats(-MAX_SLOPE, 0.0)
    strategy = exact_cases(loss).flatmap(
        lambda case: st.tuples(st.just(case), st.tuples(*[st.tuples(*[slope] * row.num_slots) for row in case.rows]))
    )
    holds_over_options(loss, strategy, test, budget)
