import itertools
import math
import statistics

import pytest
import torch

from prefopt.engine.metrics import ExampleStats, MetricMean, batch_metrics, preference_metrics
from prefopt.losses import Declarations
from prefopt.types import BatchLoss, Scores

REFERENCE_BASED = Declarations()


def _independent(rewards, ranks, valid):
    """Per-prompt accuracy, margin and Kendall tau by enumerating pairs, averaged over the prompts with a pair."""
    accuracies, margins, taus = [], [], []
    for row_r, row_k, row_v in zip(rewards, ranks, valid, strict=True):
        slots = [i for i, v in enumerate(row_v) if v]
        pairs = [(i, j) for i, j in itertools.permutations(slots, 2) if row_k[i] < row_k[j]]
        if not pairs:
            continue
        diffs = [row_r[i] - row_r[j] for i, j in pairs]
        accuracies.append(sum(1.0 if d > 0 else 0.5 if d == 0 else 0.0 for d in diffs) / len(diffs))
        margins.append(sum(diffs) / len(diffs))
        taus.append(sum((d > 0) - (d < 0) for d in diffs) / len(diffs))
    return statistics.mean(accuracies), statistics.mean(margins), statistics.mean(taus)


def test_accuracy_margin_and_kendall_tau_against_pair_enumeration():
    log_ratios = [[3.0, 1.0, 2.0, 0.0], [0.5, 0.5, -1.0, 9.0], [1.0, 2.0, 0.0, 0.0]]
    ranks = [[0, 1, 2, 3], [0, 1, 1, 4], [0, 0, 1, 2]]
    valid = [[True] * 4, [True, True, True, False], [True] * 4]
    reference = -torch.arange(12.0).reshape(3, 4)  # integers: policy - reference is exact, ties stay ties
    scores = Scores(
        policy=reference + torch.tensor(log_ratios),
        reference=reference,
        ranks=torch.tensor(ranks),
        valid=torch.tensor(valid),
    )
    out = BatchLoss(loss=torch.tensor(0.25), rewards=0.1 * torch.tensor(log_ratios))
    metrics = preference_metrics(scores, out, REFERENCE_BASED)
    accuracy, margin, tau = _independent(log_ratios, ranks, valid)
    assert metrics["accuracy"] == pytest.approx(accuracy) == metrics["rewards/accuracy"]
    assert metrics["margin"] == pytest.approx(margin)
    assert metrics["rewards/margin"] == pytest.approx(0.1 * margin)
    assert metrics["kendall_tau"] == pytest.approx(tau)
    assert metrics["loss"] == pytest.approx(0.25)
    assert metrics["rewards/rank0"] == pytest.approx(0.1 * (3.0 + 0.5 + 1.0 + 2.0) / 4)


def test_the_loss_s_rewards_never_decide_the_engine_s_accuracy():
    # a DPO variant whose rewards are the policy log-probs: before any step (policy = reference) the implicit
    # reward beta * (policy - reference) is 0 for every response, whatever the loss returns
    policy = torch.tensor([[-1.0, -5.0], [-2.0, -9.0], [-7.0, -3.0]])
    scores = Scores(policy=policy, reference=policy.clone())
    out = BatchLoss(loss=torch.tensor(0.69), rewards=policy)
    metrics = preference_metrics(scores, out, REFERENCE_BASED)
    assert metrics["accuracy"] == 0.5 and metrics["margin"] == 0.0
    assert metrics["rewards/accuracy"] == pytest.approx(2 / 3)  # what the loss's own rewards claim
    assert "kendall_tau" not in metrics


def test_without_a_reference_the_reward_is_the_policy_log_prob_normalised_as_declared():
    policy = torch.tensor([[-4.0, -3.0], [-6.0, -9.0]])
    lengths = torch.tensor([[4.0, 1.0], [6.0, 3.0]])
    scores = Scores(policy=policy, lengths=lengths)
    out = BatchLoss(loss=torch.tensor(0.0), rewards=torch.zeros(2, 2))
    summed = preference_metrics(scores, out, Declarations(needs_reference=False))
    per_token = preference_metrics(scores, out, Declarations(needs_reference=False, length_normalized=True))
    assert summed["accuracy"] == 0.5 and summed["margin"] == pytest.approx(((-1.0) + 3.0) / 2)
    assert per_token["accuracy"] == 1.0 and per_token["margin"] == pytest.approx(((-1.0 + 3.0) + (-1.0 + 3.0)) / 2)


def test_a_likelihood_objective_reports_the_best_response_s_nll_per_token_and_perplexity():
    policy = torch.tensor([[-6.0, -1.0, -2.0], [-3.0, -3.0, -8.0]])
    lengths = torch.tensor([[3.0, 1.0, 1.0], [2.0, 4.0, 1.0]])
    ranks = torch.tensor([[0, 1, 2], [0, 0, 1]])  # the second prompt has two best responses (a tie)
    scores = Scores(policy=policy, lengths=lengths, ranks=ranks)
    out = BatchLoss(loss=torch.tensor(0.0), rewards=policy)
    metrics = preference_metrics(scores, out, Declarations(needs_reference=False, likelihood=True))
    nll = statistics.mean([6.0 / 3.0, (3.0 + 3.0) / (2.0 + 4.0)])
    assert metrics["nll_per_token"] == pytest.approx(nll)
    assert metrics["perplexity"] == pytest.approx(math.exp(nll))
    assert "nll_per_token" not in preference_metrics(scores, out, Declarations(needs_reference=False))


def test_a_loss_metric_named_like_an_engine_metric_is_kept_apart():
    scores = Scores(policy=torch.zeros(2, 2), reference=torch.zeros(2, 2))
    out = BatchLoss(loss=torch.tensor(0.0), rewards=torch.zeros(2, 2), metrics={"margin": 7.0, "delta": 1.0})
    metrics = preference_metrics(scores, out, REFERENCE_BASED)
    assert metrics["margin"] == 0.0 and metrics["loss_metrics/margin"] == 7.0 and metrics["delta"] == 1.0


def test_example_stats_give_means_and_standard_errors_over_examples():
    accuracy = [1.0, 0.0, 1.0, 1.0, 0.5]
    margin = [0.3, -1.2, 2.5, 0.0, 0.7]
    counted = torch.tensor([True, True, True, True, False])  # the last example counts for accuracy alone
    stats = ExampleStats()
    for rows in (slice(0, 2), slice(2, 5)):  # two batches
        stats.add(
            {
                "accuracy": (torch.tensor(accuracy[rows]), torch.ones(len(accuracy[rows]), dtype=torch.bool)),
                "margin": (torch.tensor(margin[rows]), counted[rows]),
            }
        )
    summary = stats.summary()
    p = statistics.mean(accuracy)
    assert summary["accuracy"] == pytest.approx(p)
    assert summary["accuracy_se"] == pytest.approx(math.sqrt(p * (1 - p) / 5))
    assert summary["margin"] == pytest.approx(statistics.mean(margin[:4]))
    assert summary["margin_se"] == pytest.approx(statistics.stdev(margin[:4]) / math.sqrt(4))


def test_metric_mean_weights_by_prompts():
    mean = MetricMean()
    mean.add({"a": 1.0}, weight=3)
    mean.add({"a": 3.0, "b": 2.0}, weight=1)
    assert mean.means() == {"a": pytest.approx(1.5), "b": 2.0}


class _HostReads(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the reads of a tensor's value to the host (``float(t)``, ``t.item()``, ``t.tolist()``, ``bool(t)``):
    each waits for the device."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        return func(*args, **(kwargs or {}))


def test_a_batch_s_metrics_stay_on_the_device_and_a_step_reads_them_once():
    policy = torch.tensor([[-3.0, -5.0, -4.0], [-2.0, -2.5, -9.0]])
    scores = Scores(
        policy=policy, reference=policy - 1, lengths=torch.ones(2, 3), ranks=torch.tensor([[0, 1, 2], [0, 0, 1]])
    )
    out = BatchLoss(loss=torch.tensor(0.5), rewards=policy, example_losses=torch.tensor([0.4, 0.6]))
    mean = MetricMean()
    with _HostReads() as counted:
        for _ in range(4):  # four micro-batches
            mean.add(batch_metrics(scores, out, Declarations(likelihood=True)), weight=2)
    assert counted.reads == 0
    with _HostReads() as counted:
        means = mean.means()
    assert counted.reads <= 1  # one transfer for every total and weight
    assert means == pytest.approx(preference_metrics(scores, out, Declarations(likelihood=True)))
