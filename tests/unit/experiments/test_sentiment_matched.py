"""Reward at matched KL against direct computations on made-up curves."""

from __future__ import annotations

import math

import pytest
import torch

from prefopt.experiments.sentiment.bootstrap import Bootstrap
from prefopt.experiments.sentiment.matched import BEST_OF_N, curve_at, matched_kl


def test_a_curve_is_read_linearly_between_the_checkpoints_around_the_budget():
    kls = torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.2, 0.4]], dtype=torch.float64)
    rewards = torch.tensor([[0.0, 0.5, 1.5], [0.1, 0.2, 0.3]], dtype=torch.float64)
    assert curve_at(kls, rewards, 0.5).tolist() == pytest.approx([0.25, math.nan], nan_ok=True)
    assert curve_at(kls, rewards, 2.0)[0] == pytest.approx(0.5 + (2.0 - 1.0) / (3.0 - 1.0) * 1.0)
    assert math.isnan(curve_at(kls, rewards, 4.0)[0])  # never reached


def constant_point(reward: float, kl: float, prompts: int = 6, k: int = 2) -> dict:
    return {"rewards": [[reward] * k for _ in range(prompts)], "log_ratios": [[kl] * k for _ in range(prompts)]}


def test_each_family_takes_its_best_run_at_the_budget_and_differences_are_paired():
    per_sample = {"ref": {"rewards": [[0.0] * 8 for _ in range(6)], "log_ratios": [[0.0] * 8 for _ in range(6)]}}
    runs = []
    for family, name, steps in (
        ("a", "a1", [(0.2, 1.0), (0.6, 3.0)]),
        ("a", "a2", [(0.1, 1.0), (0.9, 3.0)]),
        ("b", "b1", [(0.1, 2.0), (0.2, 4.0)]),
    ):
        points = []
        for step, (reward, kl) in enumerate(steps, start=1):
            per_sample[f"{name}/{step}"] = constant_point(reward, kl)
            points.append({"id": f"{name}/{step}", "step": step})
        runs.append({"name": name, "family": family, "seed": 0, "points": points})
    results = {
        "seeds": [0],
        "reference": [{"seed": 0, "id": "ref"}],
        "best_of_n": [{"seed": 0, "n": n} for n in (1, 2, 4, 8)],
        "runs": runs,
    }
    matched = matched_kl(results, per_sample, Bootstrap(resamples=50), budgets=(2.0, 4.0))
    a, b = (matched["families"][f]["reward"] for f in ("a", "b"))
    # at 2 nats: a1 is at 0.2 + 0.5 * 0.4 = 0.4 and a2 at 0.1 + 0.5 * 0.8 = 0.5; b1 is at its first checkpoint
    assert a[0]["reward"] == pytest.approx(0.5) and b[0]["reward"] == pytest.approx(0.1)
    assert a[1]["reward"] is None and b[1]["reward"] == pytest.approx(0.2)  # a never reaches 4 nats
    assert matched["families"]["a"]["runs"] == 2
    assert matched["families"][BEST_OF_N]["reward"][0]["reward"] is None  # best-of-8 stops at 1.2 nats
    (difference,) = [d for d in matched["differences"] if (d["first"], d["second"], d["budget"]) == ("a", "b", 2.0)]
    assert difference["difference"] == pytest.approx(0.4) and difference["interval"] == pytest.approx([0.4, 0.4])
