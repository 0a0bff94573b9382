"""The tabular check of Theorem 1 / Lemma 2: its pieces against independent formulas, and its verdicts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field

import prefopt
from prefopt import Declarations, LossOptions, LossOutput, define_loss
from prefopt.verify import check_tabular_optimum, make_bandit
from prefopt.verify.bandit import TOLERANCE, sample_rankings


class BetaOptions(LossOptions):
    beta: float = Field(0.1, gt=0)


@define_loss("reference_pl", options=BetaOptions, declarations=Declarations(listwise=True, bradley_terry=True))
def reference_pl(scores, options):
    """Plackett-Luce written as the product formula of App. A.3 (fine for the small scores of a bandit)."""
    s = torch.exp(options.beta * scores.log_ratio())  # (B, K)
    tails = s.flip(-1).cumsum(-1).flip(-1)  # sum_{j >= k} exp(s_j)
    return LossOutput(loss=-torch.log(s / tails).sum(dim=-1), rewards=torch.log(s).detach())


@define_loss("double_beta_dpo", options=BetaOptions, declarations=Declarations(bradley_terry=True))
def double_beta_dpo(scores, options):
    """DPO at twice its beta: its optimum is pi_ref * exp(r*/(2 beta)) / Z, not eq. 4's."""
    h = scores.log_ratio()
    return LossOutput(loss=-F.logsigmoid(2 * options.beta * (h[:, 0] - h[:, 1])), rewards=h.detach())


def test_optimal_policy_is_equation_4():
    bandit = make_bandit(num_prompts=1, num_responses=4, beta=0.5, seed=3)
    ref = bandit.reference.exp()[0].tolist()
    reward = bandit.reward[0].tolist()
    weights = [p * math.exp(r / 0.5) for p, r in zip(ref, reward, strict=True)]
    expected = [w / math.fsum(weights) for w in weights]
    assert bandit.optimal_policy()[0].tolist() == pytest.approx(expected, rel=1e-12)
    assert math.fsum(ref) == pytest.approx(1.0)


def test_sampled_pairs_follow_bradley_terry():
    bandit = make_bandit(num_prompts=1, num_responses=2, seed=1)
    _, responses = sample_rankings(bandit, 40_000, 2, torch.Generator().manual_seed(0))
    first_wins = float((responses[:, 0] == 0).double().mean())
    r0, r1 = bandit.reward[0].tolist()
    assert first_wins == pytest.approx(1 / (1 + math.exp(r1 - r0)), abs=0.01)  # sigma(r0 - r1), 4 sigma ~ 0.01


def test_sampled_rankings_follow_plackett_luce():
    bandit = make_bandit(num_prompts=1, num_responses=3, seed=2)
    _, responses = sample_rankings(bandit, 40_000, 3, torch.Generator().manual_seed(0))
    e = bandit.reward[0].exp().tolist()
    top_then_second = float(((responses[:, 0] == 2) & (responses[:, 1] == 0)).double().mean())
    expected = e[2] / sum(e) * e[0] / (e[0] + e[1])
    assert top_then_second == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("name", ["dpo", "plackett_luce"])
def test_builtin_losses_reach_the_optimum(name):
    result = check_tabular_optimum(prefopt.get_loss(name), seed=0)
    assert result.passed, str(result)
    assert result.tolerance == TOLERANCE


def test_reference_free_dpo_reaches_the_optimum_of_a_uniform_reference():
    assert check_tabular_optimum(prefopt.get_loss("dpo", reference_free=True), seed=1).passed


def test_an_independent_plackett_luce_reaches_the_optimum():
    loss = prefopt.Loss(reference_pl, BetaOptions())
    result = check_tabular_optimum(loss, seed=2)
    assert result.passed and result.slots == 4, str(result)


def test_a_loss_with_the_wrong_temperature_misses_the_optimum():
    result = check_tabular_optimum(prefopt.Loss(double_beta_dpo, BetaOptions()), seed=0)
    assert not result.passed and result.total_variation > 2 * TOLERANCE, str(result)
