"""Each pairwise built-in against its paper formula, written independently in plain float64 Python math."""

from __future__ import annotations

import math

import pytest
import torch

from prefopt import Scores, get_loss


def logsig(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sig(x: float) -> float:
    return math.exp(logsig(x))


def pairs(seed: int = 0, n: int = 7) -> list[tuple[float, float, float, float, float, float]]:
    """Rows (policy_w, policy_l, ref_w, ref_l, len_w, len_l)."""
    rng = torch.Generator().manual_seed(seed)
    logps = (torch.randn(n, 4, generator=rng, dtype=torch.float64) * 6 - 20).tolist()
    lengths = torch.randint(1, 30, (n, 2), generator=rng).double().tolist()
    return [tuple(a) + tuple(b) for a, b in zip(logps, lengths, strict=True)]


def as_scores(rows) -> Scores:
    t = torch.tensor(rows, dtype=torch.float64)
    return Scores(policy=t[:, 0:2], reference=t[:, 2:4], lengths=t[:, 4:6])


def margins(row, beta: float) -> tuple[float, float, float]:
    pw, pl, rw, rl = row[:4]
    return beta * (pw - rw), beta * (pl - rl), beta * ((pw - rw) - (pl - rl))


def dpo_ref(row, o):
    _, _, z = margins(row, o.get("beta", 0.1))
    eps = o.get("label_smoothing", 0.0)
    return -(1 - eps) * logsig(z) - eps * logsig(-z)


def ipo_ref(row, o):
    pw, pl, rw, rl, lw, ll = row
    if o.get("log_ratio", "average") == "average":
        pw, rw, pl, rl = pw / lw, rw / lw, pl / ll, rl / ll
    return ((pw - rw) - (pl - rl) - 1 / (2 * o.get("tau", 0.1))) ** 2


def hinge_ref(row, o):
    pw, pl, rw, rl = row[:4]
    beta = o.get("beta", 0.1)
    d = (pw - pl) if o.get("reference_free") else (pw - rw) - (pl - rl)
    return max(0.0, 1 - beta * d)


def robust_ref(row, o):
    _, _, z = margins(row, o.get("beta", 0.1))
    eps = o.get("label_smoothing", 0.1)
    return ((1 - eps) * -logsig(z) - eps * -logsig(-z)) / (1 - 2 * eps)


def exo_ref(row, o):
    _, _, z = margins(row, o.get("beta", 0.1))
    eps = o.get("label_smoothing", 1e-3)
    p = sig(z)  # KL between Bernoulli(p) and Bernoulli(1 - eps)
    return p * math.log(p / (1 - eps)) + (1 - p) * math.log((1 - p) / eps)


def nca_ref(row, o):
    rw, rl, _ = margins(row, o.get("beta", 0.1))
    return -logsig(rw) - 0.5 * logsig(-rw) - 0.5 * logsig(-rl)


def sppo_ref(row, o):
    pw, pl, rw, rl = row[:4]
    b = o.get("beta", 0.1)
    return (pw - rw - 0.5 / b) ** 2 + (pl - rl + 0.5 / b) ** 2


def apo_zero_ref(row, o):
    rw, rl, _ = margins(row, o.get("beta", 0.1))
    return 1 - sig(rw) + sig(rl)


def apo_down_ref(row, o):
    rw, rl, z = margins(row, o.get("beta", 0.1))
    return sig(rw) + 1 - sig(z)


def discopop_ref(row, o):
    _, _, z = margins(row, o.get("beta", 0.05))
    gate = sig(z / o.get("tau", 0.05))
    return (1 - gate) * -logsig(z) + gate * math.exp(-z)


PAIRWISE_BUILTINS = [
    "dpo",
    "ipo",
    "hinge",
    "robust",
    "exo_pair",
    "nca_pair",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
]

PER_PAIR = [
    ("dpo", {}, dpo_ref),
    ("dpo", {"beta": 0.5, "label_smoothing": 0.2}, dpo_ref),
    ("ipo", {}, ipo_ref),
    ("ipo", {"tau": 0.3, "log_ratio": "sum"}, ipo_ref),
    ("hinge", {}, hinge_ref),
    ("hinge", {"beta": 0.05, "reference_free": True}, hinge_ref),
    ("robust", {}, robust_ref),
    ("robust", {"beta": 0.3, "label_smoothing": 0.3}, robust_ref),
    ("exo_pair", {}, exo_ref),
    ("exo_pair", {"beta": 0.02, "label_smoothing": 0.1}, exo_ref),
    ("nca_pair", {"beta": 0.3}, nca_ref),
    ("sppo_hard", {}, sppo_ref),
    ("apo_zero", {"beta": 0.2}, apo_zero_ref),
    ("apo_down", {"beta": 0.2}, apo_down_ref),
    ("discopop", {}, discopop_ref),
    ("discopop", {"beta": 0.01, "tau": 0.5}, discopop_ref),
]


@pytest.mark.parametrize(("name", "options", "formula"), PER_PAIR)
def test_pairwise_loss_matches_formula(name, options, formula):
    rows = pairs(seed=len(name) + len(options))
    loss = get_loss(name, **options)
    per_pair = loss.definition.function(as_scores(rows), loss.options).loss
    expected = [formula(row, options) for row in rows]
    assert per_pair.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert float(loss(as_scores(rows)).loss) == pytest.approx(sum(expected) / len(expected), rel=1e-9)


def test_bco_uses_the_batch_mean_reward_as_shift():
    rows, beta = pairs(seed=3), 0.1
    rewards = [margins(row, beta)[:2] for row in rows]
    delta = sum(rw + rl for rw, rl in rewards) / (2 * len(rows))
    expected = [-logsig(rw - delta) - logsig(delta - rl) for rw, rl in rewards]
    loss = get_loss("bco_pair", beta=beta)
    out = loss.definition.function(as_scores(rows), loss.options)
    assert out.loss.tolist() == pytest.approx(expected, rel=1e-9)
    assert out.metrics["delta"] == pytest.approx(delta, rel=1e-9)


def sorted_margin_losses(upper, lower, beta, eps):
    return [
        -(1 - eps) * logsig(beta * (u - v)) - eps * logsig(-beta * (u - v))
        for u, v in zip(sorted(upper), sorted(lower), strict=True)
    ]


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_aot_paired_sorts_policy_and_reference_margins(eps):
    rows = pairs(seed=5)
    expected = sorted_margin_losses([r[0] - r[1] for r in rows], [r[2] - r[3] for r in rows], 0.2, eps)
    loss = get_loss("aot", beta=0.2, label_smoothing=eps)
    assert loss.definition.function(as_scores(rows), loss.options).loss.tolist() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_aot_unpaired_sorts_chosen_and_rejected_log_ratios(eps):
    rows = pairs(seed=6)
    expected = sorted_margin_losses([r[0] - r[2] for r in rows], [r[1] - r[3] for r in rows], 0.2, eps)
    loss = get_loss("aot_unpaired", beta=0.2, label_smoothing=eps)
    assert loss.definition.function(as_scores(rows), loss.options).loss.tolist() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["aot", "aot_unpaired", "bco_pair"])
def test_batch_coupled_losses_do_not_depend_on_batch_order(name):
    rows = pairs(seed=8)
    loss = get_loss(name)
    forward, backward = loss(as_scores(rows)).loss, loss(as_scores(rows[::-1])).loss
    assert float(forward) == pytest.approx(float(backward), rel=1e-12)


def test_robust_without_flips_is_dpo():
    rows = pairs(seed=9)
    robust = get_loss("robust", label_smoothing=0.0)
    dpo = get_loss("dpo")
    assert torch.equal(robust(as_scores(rows)).loss, dpo(as_scores(rows)).loss)


def test_every_pairwise_builtin_returns_detached_rewards_and_finite_gradients():
    for name in PAIRWISE_BUILTINS:
        policy = torch.tensor([[-3e3, -1e3], [-10.0, -12.0]], requires_grad=True)
        scores = Scores(
            policy=policy, reference=torch.tensor([[-2e3, -2e3], [-11.0, -11.0]]), lengths=torch.ones(2, 2) * 5
        )
        out = get_loss(name)(scores)
        out.loss.backward()
        assert torch.isfinite(out.loss) and torch.isfinite(policy.grad).all(), name
        assert not out.rewards.requires_grad and out.rewards.shape == (2, 2), name
