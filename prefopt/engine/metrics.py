"""Training and evaluation metrics computed from a batch's scores and the loss's rewards.

All metrics are means over prompts (or over preference pairs, for pair metrics) of one batch; a
:class:`MetricMean` combines batches weighted by how many prompts each held, and a :class:`MetricWindow` the
optimizer steps between two training-metric lines.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch

from prefopt.rankings import ranking_pairs
from prefopt.types import BatchLoss, Scores


def preference_metrics(scores: Scores, out: BatchLoss) -> dict[str, float]:
    """Loss, rewards and log-probs per rank, pairwise accuracy, margins and (K > 2) Kendall tau.

    Accuracy counts, over every strictly ordered pair of responses of a prompt, the pairs whose implicit
    rewards agree with the ranking; a pair with equal rewards counts one half (so pi_theta = pi_ref gives 50%).
    Kendall tau per prompt is (concordant - discordant) / ordered pairs.
    """
    rewards = out.rewards.detach().float()  # (B, K)
    index, pair_valid = ranking_pairs(scores.ranks, scores.valid)  # (P, 2), (B, P)
    diff = rewards[:, index[:, 0]] - rewards[:, index[:, 1]]  # (B, P) better minus worse
    pairs = pair_valid.float()
    num_pairs = pairs.sum(dim=1)  # (B,)
    has_pairs = num_pairs > 0
    agree = (diff > 0).float() + 0.5 * (diff == 0).float()
    sign = torch.sign(diff)

    metrics = {
        "loss": float(out.loss.detach()),
        "accuracy": float((agree * pairs).sum() / pairs.sum().clamp(min=1)),
        "margin": float((diff * pairs).sum() / pairs.sum().clamp(min=1)),
    }
    if scores.num_slots > 2:
        tau = (sign * pairs).sum(dim=1)[has_pairs] / num_pairs[has_pairs]
        metrics["kendall_tau"] = float(tau.mean()) if tau.numel() else 0.0
    named = {"rewards": rewards, "logps/policy": scores.policy.detach().float()}
    if scores.reference is not None:
        named["logps/reference"] = scores.reference.detach().float()
    for rank in scores.ranks[scores.valid].unique().tolist():
        at_rank = (scores.ranks == rank) & scores.valid
        for prefix, values in named.items():
            metrics[f"{prefix}/rank{rank}"] = float(values[at_rank].mean())
    metrics.update(out.metrics)
    return metrics


class MetricMean:
    """Weighted running means of named metrics (weights: prompts per batch)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.weights: dict[str, float] = defaultdict(float)

    def add(self, metrics: dict[str, float], weight: float) -> None:
        for name, value in metrics.items():
            self.totals[name] += value * weight
            self.weights[name] += weight

    def means(self) -> dict[str, float]:
        return {name: self.totals[name] / self.weights[name] for name in self.totals if self.weights[name]}

    def gathered_means(self, accelerator) -> dict[str, float]:
        """The means over every process's totals and weights (each process calls this)."""
        if accelerator.num_processes == 1:
            return self.means()
        merged = MetricMean()
        for totals, weights in accelerator.gather_for_metrics(
            [(dict(self.totals), dict(self.weights))], use_gather_object=True
        ):
            for name, total in totals.items():
                merged.totals[name] += total
                merged.weights[name] += weights[name]
        return merged.means()


class MetricWindow:
    """The training metrics of the steps since the last logged line: their mean (each step weighs 1), the tokens
    processed and the seconds spent. :meth:`state` goes into checkpoints, so that a run resumed inside a window
    logs the same line as an uninterrupted one (the floats survive JSON exactly)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.mean = MetricMean()
        self.tokens, self.seconds_before = 0, 0.0
        if state is not None:
            self.mean.totals.update(state["totals"])
            self.mean.weights.update(state["weights"])
            self.tokens, self.seconds_before = state["tokens"], state["seconds"]
        self.started = time.perf_counter()

    def add(self, metrics: dict[str, float], tokens: int) -> None:
        self.mean.add(metrics, weight=1.0)
        self.tokens += tokens

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def line(self) -> dict[str, float]:
        """The means of the window and its throughput, ``tokens_per_second``."""
        return {**self.mean.means(), "tokens_per_second": self.tokens / self.seconds()}

    def state(self) -> dict[str, Any]:
        return {
            "totals": dict(self.mean.totals),
            "weights": dict(self.mean.weights),
            "tokens": self.tokens,
            "seconds": self.seconds(),
        }
