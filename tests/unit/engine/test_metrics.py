import itertools

import pytest
import torch

from prefopt.engine.metrics import MetricMean, preference_metrics
from prefopt.types import LossOutput, Scores


def _independent(rewards, ranks, valid):
    agree, margins, taus = [], [], []
    for row_r, row_k, row_v in zip(rewards, ranks, valid, strict=True):
        slots = [i for i, v in enumerate(row_v) if v]
        pairs = [(i, j) for i, j in itertools.permutations(slots, 2) if row_k[i] < row_k[j]]
        row = []
        for i, j in pairs:
            d = row_r[i] - row_r[j]
            agree.append(1.0 if d > 0 else 0.5 if d == 0 else 0.0)
            margins.append(d)
            row.append((d > 0) - (d < 0))
        if pairs:
            taus.append(sum(row) / len(row))
    return sum(agree) / len(agree), sum(margins) / len(margins), sum(taus) / len(taus)


def test_accuracy_margin_and_kendall_tau_against_pair_enumeration():
    rewards = [[3.0, 1.0, 2.0, 0.0], [0.5, 0.5, -1.0, 9.0], [1.0, 2.0, 0.0, 0.0]]
    ranks = [[0, 1, 2, 3], [0, 1, 1, 4], [0, 0, 1, 2]]
    valid = [[True] * 4, [True, True, True, False], [True] * 4]
    scores = Scores(
        policy=torch.tensor(rewards), reference=torch.zeros(3, 4), ranks=torch.tensor(ranks), valid=torch.tensor(valid)
    )
    out = LossOutput(loss=torch.tensor(0.25), rewards=torch.tensor(rewards))
    metrics = preference_metrics(scores, out)
    accuracy, margin, tau = _independent(rewards, ranks, valid)
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["margin"] == pytest.approx(margin)
    assert metrics["kendall_tau"] == pytest.approx(tau)
    assert metrics["loss"] == pytest.approx(0.25)
    assert metrics["rewards/rank0"] == pytest.approx((3.0 + 0.5 + 1.0 + 2.0) / 4)


def test_equal_policy_and_reference_gives_half_accuracy():
    scores = Scores(policy=torch.randn(6, 2), reference=torch.randn(6, 2))
    out = LossOutput(loss=torch.tensor(0.0), rewards=torch.zeros(6, 2))
    assert preference_metrics(scores, out)["accuracy"] == 0.5
    assert "kendall_tau" not in preference_metrics(scores, out)


def test_metric_mean_weights_by_prompts():
    mean = MetricMean()
    mean.add({"a": 1.0}, weight=3)
    mean.add({"a": 3.0, "b": 2.0}, weight=1)
    assert mean.means() == {"a": pytest.approx(1.5), "b": 2.0}
