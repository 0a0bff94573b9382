"""Bradley-Terry identities (THEORY.md 8.1, 8.2, 8.4, 8.8): the value and gradient at K = 2 (eq. 7, App. A.4),
the loss at pi_theta = pi_ref, agreement with dpo at K = 2 for listwise losses, and the tabular optimum of
Theorem 1."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from prefopt.losses import Loss, get_loss, registry
from prefopt.verify.bandit import check_tabular_optimum
from prefopt.verify.cases import Case, Row
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, exact_cases, expect_close, holds, loss_value


def beta_of(loss: Loss) -> float:
    beta = getattr(loss.options, "beta", None)
    if beta is None:
        raise Violation(f"loss {loss.name!r} declares bradley_terry but has no option 'beta'")
    return float(beta)


def _skip_bradley_terry(loss: Loss) -> str | None:
    if not loss.declarations.bradley_terry:
        return "the loss does not declare bradley_terry"
    if loss.declarations.needs_token_logps:
        return "the Bradley-Terry identities are stated for sequence log-probs; this loss reads token log-probs"
    return None


@register_property(
    "bradley_terry_value",
    "at K=2 the loss is -log sigma(beta*(h_w - h_l)) (eq. 7, 8.1)",
    skip=_skip_bradley_terry,
)
def bradley_terry_value(loss: Loss, budget: Budget) -> None:
    beta = beta_of(loss)

    def test(case: Case) -> None:
        scores, _ = case.scores()
        h = scores.log_ratio()
        expected = -F.logsigmoid(beta * (h[:, 0] - h[:, 1])).mean()
        expect_close(float(loss(scores).loss), float(expected), "loss vs -log sigma(beta*(h_w - h_l))")

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


@register_property(
    "bradley_terry_gradient",
    "d loss/d log pi(y_w) = -beta*w, d/d log pi(y_l) = +beta*w (App. A.4)",
    skip=_skip_bradley_terry,
)
def bradley_terry_gradient(loss: Loss, budget: Budget) -> None:
    beta = beta_of(loss)

    def test(case: Case) -> None:
        scores, leaf = case.scores(grad=True)
        (loss(scores).loss * case.batch_size).backward()  # per-example derivatives of the mean
        h = scores.log_ratio().detach()
        weight = torch.sigmoid(beta * h[:, 1] - beta * h[:, 0])  # (B,) w = sigma(beta h_l - beta h_w)
        expected = torch.stack([-beta * weight, beta * weight], dim=1)
        if not torch.allclose(leaf.grad, expected, rtol=1e-6, atol=1e-9):
            raise Violation(
                f"d loss / d (policy_w, policy_l) = {leaf.grad.tolist()}, App. A.4 gives {expected.tolist()}"
            )

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


@register_property(
    "uniform_policy",
    "at pi_theta = pi_ref the loss is log 2 (pairs) or log K! (listwise) (8.4)",
    skip=_skip_bradley_terry,
)
def uniform_policy(loss: Loss, budget: Budget) -> None:
    listwise = loss.declarations.listwise

    def test(case: Case) -> None:
        def zero_ratio(row: Row) -> Row:  # pi_theta = pi_ref, or equal log-probs without a reference
            if row.reference is not None:
                return replace(row, policy=row.reference)
            return replace(row, policy=(row.policy[0],) * row.num_slots)

        at_reference = case.map_rows(zero_ratio)
        slots = case.rows[0].num_slots
        expected = math.lgamma(slots + 1) if listwise else math.log(2.0)
        expect_close(loss_value(loss, at_reference), expected, f"loss at h = 0 with K={slots}")

    holds(exact_cases(loss, slots=(2, 6) if listwise else (2, 2)), test, budget)


def _skip_k2_equals_dpo(loss: Loss) -> str | None:
    if not loss.declarations.listwise:
        return "the loss is pairwise"
    return _skip_bradley_terry(loss) or (None if "dpo" in registry.names() else "dpo is not registered")


@register_property(
    "k2_equals_dpo",
    "a listwise Bradley-Terry loss at K=2 equals dpo with the same beta (8.2)",
    skip=_skip_k2_equals_dpo,
)
def k2_equals_dpo(loss: Loss, budget: Budget) -> None:
    dpo = get_loss("dpo", beta=beta_of(loss), reference_free=not loss.declarations.needs_reference)

    def test(case: Case) -> None:
        expect_close(loss_value(loss, case), loss_value(dpo, case), "listwise loss vs dpo at K=2")

    holds(exact_cases(loss, slots=(2, 2)), test, budget)


@register_property(
    "tabular_optimum",
    "on a bandit, minimising the loss gives pi_ref*exp(r*/beta)/Z (Thm 1, 8.8)",
    skip=_skip_bradley_terry,
)
def tabular_optimum(loss: Loss, budget: Budget) -> None:
    beta_of(loss)  # the bandit sets the loss's beta
    result = check_tabular_optimum(loss, seed=budget.seed)
    if not result.passed:
        raise Violation(str(result))
