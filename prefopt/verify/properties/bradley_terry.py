"""Bradley-Terry identities (docs/theory.md §8.1, §8.2, §8.4, §8.8): the value and gradient at K = 2 (eq. 7, App. A.4),
the loss at pi_theta = pi_ref, DPO's value for padded K = 2 prompts of listwise losses, and the tabular optimum
of Theorem 1. Every comparison is with a formula, never with another registered loss, so a plugin that takes a
built-in's name cannot make these checks fail."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.bandit import check_tabular_optimum
from prefopt.verify.cases import Case, Row
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


def beta_of(loss: Loss) -> float:
    beta = getattr(loss.options, "beta", None)
    if beta is None:
        raise Violation(f"loss {loss.name!r} declares bradley_terry but has no option 'beta'")
    return float(beta)


def dpo_value(case: Case, beta: float) -> float:
    """The mean over the case's K = 2 prompts of -log sigma(beta * (h_w - h_l)) (eq. 7)."""
    h = case.scores()[0].log_ratio()
    return float(-F.logsigmoid(beta * (h[:, 0] - h[:, 1])).mean())


def skip_bradley_terry(loss: Loss) -> str | None:
    """Why the Bradley-Terry identities do not apply to ``loss``, or None when they do."""
    if not loss.declarations.bradley_terry:
        return "the loss does not declare bradley_terry"
    if loss.declarations.needs_token_logps:
        return "the Bradley-Terry identities are stated for sequence log-probs; this loss reads token log-probs"
    return None


@register_property(
    "bradley_terry_value",
    "at K=2 the loss is -log sigma(beta*(h_w - h_l)) (eq. 7, 8.1)",
    skip=skip_bradley_terry,
)
def bradley_terry_value(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        expected = dpo_value(case, beta_of(drawn))
        expect_close(loss_value(drawn, case), expected, "loss vs -log sigma(beta*(h_w - h_l))")

    holds_over_options(loss, exact_cases(loss, slots=(2, 2)), test, budget)


@register_property(
    "bradley_terry_gradient",
    "d loss/d log pi(y_w) = -beta*w, d/d log pi(y_l) = +beta*w (App. A.4)",
    skip=skip_bradley_terry,
)
def bradley_terry_gradient(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        beta = beta_of(drawn)
        scores, leaf = case.scores(grad=True)
        (drawn(scores).loss * case.batch_size).backward()  # per-example derivatives of the mean
        h = scores.log_ratio().detach()
        weight = torch.sigmoid(beta * h[:, 1] - beta * h[:, 0])  # (B,) w = sigma(beta h_l - beta h_w)
        expected = torch.stack([-beta * weight, beta * weight], dim=1)
        if not torch.allclose(leaf.grad, expected, rtol=1e-6, atol=1e-9):
            raise Violation(
                f"d loss / d (policy_w, policy_l) = {leaf.grad.tolist()}, App. A.4 gives {expected.tolist()}"
            )

    holds_over_options(loss, exact_cases(loss, slots=(2, 2)), test, budget)


@register_property(
    "uniform_policy",
    "at pi_theta = pi_ref the loss is log 2 (pairs) or log K! (listwise) (8.4)",
    skip=skip_bradley_terry,
)
def uniform_policy(loss: Loss, budget: Budget) -> None:
    listwise = loss.declarations.listwise

    def test(drawn: Loss, case: Case) -> None:
        def zero_ratio(row: Row) -> Row:  # pi_theta = pi_ref, or equal log-probs without a reference
            if row.reference is not None:
                return replace(row, policy=row.reference)
            return replace(row, policy=(row.policy[0],) * row.num_slots)

        at_reference = case.map_rows(zero_ratio)
        slots = case.rows[0].num_slots
        expected = math.lgamma(slots + 1) if listwise else math.log(2.0)
        expect_close(loss_value(drawn, at_reference), expected, f"loss at h = 0 with K={slots}")

    holds_over_options(loss, exact_cases(loss, slots=(2, 6) if listwise else (2, 2)), test, budget)


def _skip_k2_equals_dpo(loss: Loss) -> str | None:
    return "the loss is pairwise" if not loss.declarations.listwise else skip_bradley_terry(loss)


@register_property(
    "k2_equals_dpo",
    "a listwise Bradley-Terry loss on K=2 prompts, padded to a wider batch, is DPO's -log sigma(beta*(h_w - h_l)) (8.2)",
    skip=_skip_k2_equals_dpo,
)
def k2_equals_dpo(loss: Loss, budget: Budget) -> None:
    """L_PL at K = 2 is L_DPO (App. A.3) also where the engine pads a 2-response prompt to a batch's wider K."""

    def test(drawn: Loss, example: tuple[Case, int, float]) -> None:
        case, extra, pad_value = example
        scores, _ = case.scores(extra_slots=extra, pad_value=pad_value)
        expected = dpo_value(case, beta_of(drawn))
        expect_close(float(drawn(scores).loss), expected, f"loss with {extra} padding slots vs DPO at K=2")

    strategy = st.tuples(exact_cases(loss, slots=(2, 2)), st.integers(0, 2), st.floats(-EXACT_MAGNITUDE, 0.0))
    holds_over_options(loss, strategy, test, budget)


@register_property(
    "tabular_optimum",
    "on a bandit, minimising the loss gives pi_ref*exp(r*/beta)/Z (Thm 1, 8.8)",
    skip=skip_bradley_terry,
)
def tabular_optimum(loss: Loss, budget: Budget) -> None:
    beta_of(loss)  # the bandit sets the loss's beta
    result = check_tabular_optimum(loss, seed=budget.seed)
    if not result.passed:
        raise Violation(str(result))
