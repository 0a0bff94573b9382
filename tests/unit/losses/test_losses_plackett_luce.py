"""Plackett-Luce (DPO paper App. A.3) against a brute-force product-form probability, DPO, and Breslow's formula."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prefopt import Scores, get_loss

PL = get_loss("plackett_luce")


def product_form_nll(s: list[float], ranks: list[int]) -> float:
    """-log prod_k exp(s_tau(k)) / sum_{j >= k} exp(s_tau(j)), with tau the order given by strict ranks."""
    order = sorted(range(len(s)), key=lambda i: ranks[i])
    probability = 1.0
    for k, slot in enumerate(order):
        probability *= math.exp(s[slot]) / sum(math.exp(s[j]) for j in order[k:])
    return -math.log(probability)


def breslow_nll(s: list[float], ranks: list[int]) -> float:
    """Cox partial likelihood with Breslow's ties: each tied group D gives sum_D s - |D| log sum_{rank >= rank_D} e^s."""
    total = 0.0
    for level in sorted(set(ranks)):
        group = [i for i, r in enumerate(ranks) if r == level]
        risk = [i for i, r in enumerate(ranks) if r >= level]
        total += sum(s[i] for i in group) - len(group) * math.log(sum(math.exp(s[j]) for j in risk))
    return -total


def scores_of(policy, reference=None, **kwargs) -> Scores:
    policy = torch.tensor(policy, dtype=torch.float64)
    reference = torch.zeros_like(policy) if reference is None else torch.tensor(reference, dtype=torch.float64)
    return Scores(policy=policy, reference=reference, **kwargs)


def per_prompt(loss, scores: Scores) -> torch.Tensor:
    return loss.definition.function(scores, loss.options).loss


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.floats(-30, 30), min_size=2, max_size=5),
    permutation_seed=st.integers(0, 10_000),
)
def test_matches_brute_force_product_form(values, permutation_seed):
    ranks = torch.randperm(len(values), generator=torch.Generator().manual_seed(permutation_seed)).tolist()
    scores = scores_of([values], ranks=torch.tensor([ranks]))
    expected = product_form_nll([0.1 * v for v in values], ranks)
    assert float(per_prompt(PL, scores)[0]) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_equals_dpo_exactly_at_k2():
    policy = torch.tensor([[-12.0, -15.5], [-40.0, -3.0], [-7.0, -7.0]], dtype=torch.float64)
    reference = torch.tensor([[-13.0, -14.0], [-41.0, -2.0], [-6.5, -9.0]], dtype=torch.float64)
    outputs, grads = [], []
    for name in ("plackett_luce", "dpo"):
        leaf = policy.clone().requires_grad_()
        out = get_loss(name, beta=0.3)(Scores(policy=leaf, reference=reference))
        out.loss.backward()
        outputs.append(out)
        grads.append(leaf.grad)
    assert torch.equal(outputs[0].loss, outputs[1].loss)
    assert torch.equal(grads[0], grads[1])
    assert torch.equal(outputs[0].rewards, outputs[1].rewards)
    assert get_loss("plackett_luce").declarations.bradley_terry


def test_ragged_k_equals_the_truncated_rows():
    policy = [[-3.0, -5.0, -4.0, 1e3], [-1.0, -9.0, 1e3, -1e3], [-2.0, -2.5, -8.0, -1.0]]
    reference = [[-2.0, -6.0, -4.5, 0.0], [-1.5, -7.0, 0.0, 0.0], [-2.0, -3.0, -7.0, -2.0]]
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    ragged = per_prompt(PL, scores_of(policy, reference, valid=valid))
    for row, k in enumerate(valid.sum(dim=1).tolist()):
        alone = per_prompt(PL, scores_of([policy[row][:k]], [reference[row][:k]]))
        assert float(ragged[row]) == pytest.approx(float(alone[0]), rel=1e-12)


def test_column_order_does_not_matter():
    policy, ranks = [[-3.0, -5.0, -4.0, -1.0]], torch.tensor([[2, 0, 3, 1]])
    permutation = [3, 0, 2, 1]
    shuffled = per_prompt(PL, scores_of([[policy[0][i] for i in permutation]], ranks=ranks[:, permutation]))
    assert float(per_prompt(PL, scores_of(policy, ranks=ranks))[0]) == pytest.approx(float(shuffled[0]), rel=1e-12)


@pytest.mark.parametrize("ranks", [[0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 2, 2], [0, 0, 1, 1], [1, 0, 1, 0]])
def test_breslow_ties_match_the_cox_formula(ranks):
    policy = [-3.0, -5.0, -4.0, -1.0]
    loss = per_prompt(PL, scores_of([policy], ranks=torch.tensor([ranks])))
    assert float(loss[0]) == pytest.approx(breslow_nll([0.1 * p for p in policy], ranks), rel=1e-9)


def test_ties_error_names_the_option_and_ignores_padding():
    strict = get_loss("plackett_luce", ties="error")
    with pytest.raises(ValueError, match="ties='error'"):
        strict(scores_of([[-1.0, -2.0, -3.0]], ranks=torch.tensor([[0, 1, 1]])))
    padded = scores_of(
        [[-1.0, -2.0, 0.0, 0.0]], ranks=torch.tensor([[0, 1, 2, 2]]), valid=torch.tensor([[True, True, True, False]])
    )
    assert torch.isfinite(strict(padded).loss)


def test_reference_equal_policy_gives_log_k_factorial():
    for k in (2, 3, 5):
        out = PL(scores_of([[-float(i) for i in range(k)]] * 2, [[-float(i) for i in range(k)]] * 2))
        assert float(out.loss) == pytest.approx(math.log(math.factorial(k)), rel=1e-12)


def test_shift_per_prompt_changes_nothing():
    policy = torch.tensor([[-3.0, -5.0, -4.0], [-1.0, -9.0, -2.0]], dtype=torch.float64)
    reference = torch.tensor([[-2.0, -6.0, -4.5], [-1.5, -7.0, -3.0]], dtype=torch.float64)
    shift = torch.tensor([[7.0], [-11.0]], dtype=torch.float64)
    base = PL(Scores(policy=policy, reference=reference)).loss
    assert float(PL(Scores(policy=policy + shift, reference=reference)).loss) == pytest.approx(float(base), rel=1e-12)
    assert float(PL(Scores(policy=policy, reference=reference - shift)).loss) == pytest.approx(float(base), rel=1e-12)


def test_gradients_stay_finite_with_padding_and_large_scores():
    policy = torch.tensor([[-1e4, 1e4, 0.0], [5.0, -5.0, -1e4]], requires_grad=True)
    scores = Scores(policy=policy, reference=torch.zeros(2, 3), valid=torch.tensor([[1, 1, 1], [1, 1, 0]]).bool())
    PL(scores).loss.backward()
    assert torch.isfinite(policy.grad).all() and policy.grad[1, 2] == 0
