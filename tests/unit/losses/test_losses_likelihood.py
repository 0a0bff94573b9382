"""The reference-free likelihood objectives (unlikelihood, Preferred-FT) against plain Python formulas."""

from __future__ import annotations

import math

import pytest
import torch

from prefopt import Scores, get_loss
from prefopt.losses.functional import log1mexp


def token_scores(seed: int = 0, n: int = 4, t: int = 6) -> Scores:
    rng = torch.Generator().manual_seed(seed)
    token = -torch.rand(n, 2, t, generator=rng, dtype=torch.float64) * 4  # log-probs in (-4, 0]
    token[0, 1, 0] = -1e-9  # p(l_t) ~ 1: clamped at 1 - 1e-5
    mask = torch.rand(n, 2, t, generator=rng) > 0.3
    mask[:, :, 0] = True
    return Scores(policy=token.sum(dim=2), token_policy=token, token_mask=mask)


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_unlikelihood_matches_token_sums(alpha):
    scores = token_scores()
    loss = get_loss("unlikelihood", alpha=alpha)
    out = loss.definition.function(scores, loss.options)
    for row in range(scores.batch_size):
        expected = 0.0
        for logp, real in zip(scores.token_policy[row, 0].tolist(), scores.token_mask[row, 0].tolist(), strict=True):
            expected += -logp if real else 0.0
        for logp, real in zip(scores.token_policy[row, 1].tolist(), scores.token_mask[row, 1].tolist(), strict=True):
            p = min(math.exp(logp), 1 - 1e-5)
            expected += -alpha * math.log(1 - p) if real else 0.0
        assert float(out.loss[row]) == pytest.approx(expected, rel=1e-9)


def test_unlikelihood_needs_token_logps_and_keeps_gradients_finite():
    scores = token_scores()
    token = scores.token_policy.clone().requires_grad_()
    get_loss("unlikelihood")(
        Scores(policy=scores.policy, token_policy=token, token_mask=scores.token_mask)
    ).loss.backward()
    assert torch.isfinite(token.grad).all()
    assert (token.grad[~scores.token_mask] == 0).all()


def test_sft_averages_the_best_ranked_valid_slots():
    policy = torch.tensor([[-3.0, -5.0, -4.0], [-2.0, -6.0, -1.0], [-7.0, -1.0, -9.0]], dtype=torch.float64)
    ranks = torch.tensor([[0, 1, 2], [0, 1, 0], [1, 0, 0]])
    valid = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    lengths = torch.tensor([[2.0, 5.0, 4.0], [4.0, 3.0, 1.0], [7.0, 2.0, 3.0]], dtype=torch.float64)
    scores = Scores(policy=policy, ranks=ranks, valid=valid, lengths=lengths)
    expected_sum = [3.0, (2.0 + 1.0) / 2, 1.0]
    expected_mean = [3.0 / 2, (2.0 / 4 + 1.0 / 1) / 2, 1.0 / 2]
    for options, expected in (({}, expected_sum), ({"length_normalize": True}, expected_mean)):
        loss = get_loss("sft", **options)
        assert loss.definition.function(scores, loss.options).loss.tolist() == pytest.approx(expected, rel=1e-12)
        assert float(loss(scores).loss) == pytest.approx(sum(expected) / 3, rel=1e-12)


def test_sft_declarations_follow_options():
    plain, normalised = get_loss("sft").declarations, get_loss("sft", length_normalize=True).declarations
    assert plain.listwise and not plain.needs_reference and not plain.length_normalized
    assert normalised.length_normalized and not plain.reward_difference and plain.monotone


def test_log1mexp_matches_math_and_keeps_gradients_finite():
    x = torch.tensor([-1e-12, -1e-5, -0.3, -0.7, -2.0, -40.0], dtype=torch.float64)
    assert log1mexp(x).tolist() == pytest.approx([math.log(-math.expm1(v)) for v in x.tolist()], rel=1e-12)
    leaf = torch.tensor([-(2.0**-9), -1e-3, -5.0], dtype=torch.bfloat16, requires_grad=True)
    log1mexp(leaf).sum().backward()
    assert torch.isfinite(leaf.grad).all()
