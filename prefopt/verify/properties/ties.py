"""Ties in K-way rankings (docs/theory.md §8.12): tied responses carry no order among themselves, and a Plackett-Luce
loss treats them by Breslow's approximation.

Breslow (the Cox partial likelihood with tied event times): a tied group D shares the risk set R_D of D and
everything ranked below it, so the group contributes sum_{i in D} s_i - |D| log sum_{j in R_D} exp(s_j). A loss
that drops the members of D from each other's risk sets gives a smaller value and is caught.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, Row, tied_cases
from prefopt.verify.properties.bradley_terry import beta_of, skip_bradley_terry
from prefopt.verify.property import register_property
from prefopt.verify.search import EXACT_MAGNITUDE, Budget, expect_close, holds_over_options, loss_value


def permute_within_ties(row: Row, keys: list[int]) -> Row:
    """The row with its responses reordered inside each tied group, by ``keys`` (one per response)."""
    order = sorted(range(row.num_slots), key=lambda k: (row.ranks[k], keys[k]))

    def take(values):
        return None if values is None else tuple(values[k] for k in order)

    return replace(
        row,
        policy=take(row.policy),
        reference=take(row.reference),
        lengths=take(row.lengths),
        tokens=take(row.tokens),
        ranks=take(row.ranks),
    )


def log_ratios(row: Row) -> list[float]:
    """h = log pi_theta - log pi_ref of each response, log pi_theta alone without a reference."""
    if row.reference is None:
        return list(row.policy)
    return [p - r for p, r in zip(row.policy, row.reference, strict=True)]


def breslow_nll(scores: list[float], ranks: tuple[int, ...]) -> float:
    """-sum over tied groups D of (sum_{i in D} s_i - |D| logsumexp_{j: rank_j >= rank_D} s_j), in plain floats."""
    total = 0.0
    for level in sorted(set(ranks)):
        group = [s for s, r in zip(scores, ranks, strict=True) if r == level]
        risk = [s for s, r in zip(scores, ranks, strict=True) if r >= level]
        top = max(risk)
        log_sum = top + math.log(math.fsum(math.exp(s - top) for s in risk))
        total += math.fsum(group) - len(group) * log_sum
    return -total


def _skip_tie_symmetry(loss: Loss) -> str | None:
    if not loss.declarations.listwise:
        return "the loss is pairwise"
    return None if loss.declarations.accepts_ties else "the loss refuses tied rankings (accepts_ties False)"


@register_property(
    "tie_symmetry",
    "reordering tied responses of a ranking changes nothing (8.12)",
    skip=_skip_tie_symmetry,
)
def tie_symmetry(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[Case, tuple[list[int], ...]]) -> None:
        case, keys = example
        permuted = Case(tuple(permute_within_ties(row, k) for row, k in zip(case.rows, keys, strict=True)))
        expect_close(
            loss_value(drawn, permuted), loss_value(drawn, case), f"loss after reordering tied responses by {keys}"
        )

    strategy = tied_cases(loss.declarations, magnitude=EXACT_MAGNITUDE).flatmap(
        lambda case: st.tuples(
            st.just(case), st.tuples(*[st.permutations(list(range(row.num_slots))) for row in case.rows])
        )
    )
    holds_over_options(loss, strategy, test, budget)


def _skip_breslow(loss: Loss) -> str | None:
    return _skip_tie_symmetry(loss) or skip_bradley_terry(loss)


@register_property(
    "breslow_ties",
    "a listwise Bradley-Terry loss on rankings with ties is the Breslow-form Plackett-Luce likelihood (8.12)",
    skip=_skip_breslow,
)
def breslow_ties(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        beta = beta_of(drawn)
        per_prompt = [breslow_nll([beta * h for h in log_ratios(row)], row.ranks) for row in case.rows]
        expected = math.fsum(per_prompt) / len(per_prompt)
        expect_close(loss_value(drawn, case), expected, "loss vs the Breslow formula")

    holds_over_options(loss, tied_cases(loss.declarations, magnitude=EXACT_MAGNITUDE), test, budget)
