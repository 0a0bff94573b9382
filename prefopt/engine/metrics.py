"""Training and evaluation metrics computed from a batch's scores, and the loss's own rewards beside them.

The preference metrics (accuracy, margin, Kendall tau) are the engine's, never the loss's: they are computed from
the implicit reward the engine derives from the scores and the loss's declarations (:func:`implicit_rewards`),
so a loss cannot report a better accuracy than its model has. The loss's own ``rewards`` are measured beside them
under ``rewards/``. Per-example values (:func:`example_values`) give the held-out means and their standard
errors (:class:`ExampleStats`); a :class:`MetricMean` combines batches weighted by how many prompts each held, and
a :class:`MetricWindow` the optimizer steps between two training-metric lines.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from prefopt.losses import Declarations
from prefopt.rankings import best_rank, ranking_pairs
from prefopt.types import BatchLoss, Scores


def implicit_rewards(scores: Scores, declarations: Declarations) -> Tensor:
    """(B, K) the implicit reward up to its positive scale: h = log pi_theta(y|x) - log pi_ref(y|x), the DPO reward
    r = beta * h (eq. 5) divided by beta, for a loss that reads the reference; log pi_theta(y|x) alone (pi_ref
    uniform) for one that does not; each divided by the response length when the loss declares
    ``length_normalized``. Orderings, and so accuracy and Kendall tau, are those of beta * h for any beta > 0."""
    return scores.log_ratio(reference_free=scores.reference is None, length_normalize=declarations.length_normalized)


def example_values(scores: Scores, out: BatchLoss, declarations: Declarations) -> dict[str, tuple[Tensor, Tensor]]:
    """Per example of the batch, ``name -> (values (B,), counted (B,) bool)``: the examples a value counts for.

    ``accuracy``: over the prompt's strictly ordered pairs of responses, the share whose implicit rewards agree
    with the ranking, a pair with equal rewards counting one half (so pi_theta = pi_ref gives 50%); ``margin``: the
    mean over those pairs of h(better) - h(worse); ``kendall_tau`` (K > 2): (concordant - discordant) / pairs;
    ``rewards/accuracy`` and ``rewards/margin``: the same of the loss's own ``rewards``; ``loss``: the per-prompt
    loss where the loss gives it (``BatchLoss.example_losses``); for a likelihood objective, ``nll_per_token``:
    -log pi_theta of the best response(s) over their tokens. Examples without a strict pair count for none of
    the pair metrics.
    """
    index, pair_valid = ranking_pairs(scores.ranks, scores.valid)  # (P, 2), (B, P)
    pairs = pair_valid.float()
    num_pairs = pairs.sum(dim=1)  # (B,)
    has_pairs = num_pairs > 0
    values = {}
    for prefix, rewards in (("", implicit_rewards(scores, declarations)), ("rewards/", out.rewards)):
        rewards = rewards.detach().float()
        diff = rewards[:, index[:, 0]] - rewards[:, index[:, 1]]  # (B, P) better minus worse
        agree = (diff > 0).float() + 0.5 * (diff == 0).float()
        values[f"{prefix}accuracy"] = ((agree * pairs).sum(dim=1) / num_pairs.clamp(min=1), has_pairs)
        values[f"{prefix}margin"] = ((diff * pairs).sum(dim=1) / num_pairs.clamp(min=1), has_pairs)
        if not prefix and scores.num_slots > 2:
            tau = (torch.sign(diff) * pairs).sum(dim=1) / num_pairs.clamp(min=1)
            values["kendall_tau"] = (tau, has_pairs)
    if out.example_losses is not None:
        values["loss"] = (out.example_losses.detach().float(), has_pairs)
    if declarations.likelihood:
        best = scores.valid & (scores.ranks == best_rank(scores.ranks, scores.valid))  # (B, K)
        tokens = scores.lengths.masked_fill(~best, 0).sum(dim=1)
        nll = -scores.policy.detach().float().masked_fill(~best, 0.0).sum(dim=1)
        values["nll_per_token"] = (nll / tokens.clamp(min=1), tokens > 0)
    return values


#: A metric of one batch on the batch's device: (value, present), both 0-d; ``present`` is 1.0 where the batch
#: has what the metric measures (a response at that rank, an example with a strict pair), else 0.0.
Metric = tuple[Tensor, Tensor]


def batch_metrics(scores: Scores, out: BatchLoss, declarations: Declarations) -> dict[str, Metric | float]:
    """The batch's loss, the means of :func:`example_values` over the examples each counts for, the mean rewards
    and log-probs per rank, and the loss's own metrics (one whose name is an engine metric's is kept as
    ``loss_metrics/<name>``), as :data:`Metric` tensors that stay on the device: computing them waits for
    nothing, so a training step reads them to the host once (:class:`MetricMean`), not once per micro-batch."""
    one = out.loss.new_ones(())
    metrics: dict[str, Metric | float] = {"loss": (out.loss.detach().float(), one)}
    for name, (values, counted) in example_values(scores, out, declarations).items():
        if name != "loss":
            metrics[name] = _masked_mean(values, counted)
    if "nll_per_token" in metrics:
        nll, present = metrics["nll_per_token"]
        metrics["perplexity"] = (nll.exp(), present)
    named = {"rewards": out.rewards.detach().float(), "logps/policy": scores.policy.detach().float()}
    if scores.reference is not None:
        named["logps/reference"] = scores.reference.detach().float()
    for rank in range(scores.num_slots):  # dense ranks lie in 0 .. K - 1
        at_rank = (scores.ranks == rank) & scores.valid
        for prefix, values in named.items():
            metrics[f"{prefix}/rank{rank}"] = _masked_mean(values, at_rank)
    metrics.update({(f"loss_metrics/{name}" if name in metrics else name): v for name, v in out.metrics.items()})
    return metrics


def preference_metrics(scores: Scores, out: BatchLoss, declarations: Declarations) -> dict[str, float]:
    """:func:`batch_metrics` read to the host: the metrics the batch has (absent ones left out)."""
    mean = MetricMean()
    mean.add(batch_metrics(scores, out, declarations), weight=1.0)
    return mean.means()


def _masked_mean(values: Tensor, mask: Tensor) -> Metric:
    """The mean of ``values`` where ``mask``, and whether there is any (0 and 0.0 when none)."""
    count = mask.sum()
    mean = values.float().masked_fill(~mask, 0.0).sum() / count.clamp(min=1)
    return mean, (count > 0).float()


class ExampleStats:
    """Count, sum and sum of squares of named per-example values, over batches and processes: their means and
    standard errors."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # count, sum, sum of squares

    def add(self, values: dict[str, tuple[Tensor, Tensor]]) -> None:
        for name, (value, counted) in values.items():
            kept = value[counted].double()
            self.add_sums(name, kept.numel(), float(kept.sum()), float((kept * kept).sum()))

    def gathered(self, accelerator) -> ExampleStats:
        """The statistics of every process together (each process calls this)."""
        if accelerator.num_processes == 1:
            return self
        merged = ExampleStats()
        for sums in accelerator.gather_for_metrics([dict(self.sums)], use_gather_object=True):
            for name, (count, total, squares) in sums.items():
                merged.add_sums(name, count, total, squares)
        return merged

    def add_sums(self, name: str, count: float, total: float, squares: float) -> None:
        current = self.sums[name]
        current[0], current[1], current[2] = current[0] + count, current[1] + total, current[2] + squares

    def summary(self) -> dict[str, float]:
        """``name`` (the mean) and ``name_se`` (its standard error) of each value with at least one example: for
        ``accuracy``, sqrt(p (1 - p) / n); else the sample standard deviation over sqrt(n) (0 for n = 1)."""
        summary = {}
        for name, (count, total, squares) in self.sums.items():
            if not count:
                continue
            mean = total / count
            if name.endswith("accuracy"):
                variance = mean * (1.0 - mean)
            else:
                variance = max(squares - count * mean * mean, 0.0) / (count - 1) if count > 1 else 0.0
            summary[name], summary[f"{name}_se"] = mean, math.sqrt(variance / count)
        return summary


class MetricMean:
    """Weighted running means of named metrics (weights: prompts per batch).

    Metrics are floats, or :data:`Metric` tensors, which are summed on their device: :meth:`means` reads every
    total and weight to the host in one transfer."""

    def __init__(self) -> None:
        self.totals: dict[str, float | Tensor] = defaultdict(float)
        self.weights: dict[str, float | Tensor] = defaultdict(float)

    def add(self, metrics: Mapping[str, Metric | float], weight: float) -> None:
        for name, value in metrics.items():
            value, present = value if isinstance(value, tuple) else (value, 1.0)
            self.totals[name] = self.totals[name] + value * present * weight
            self.weights[name] = self.weights[name] + present * weight

    def _read(self) -> None:
        """Every tensor total and weight as a float, read in one transfer."""
        names = [(store, name) for store in (self.totals, self.weights) for name, v in store.items() if torch.is_tensor(v)]
        if names:
            values = torch.stack([store[name].detach().double() for store, name in names]).tolist()
            for (store, name), value in zip(names, values, strict=True):
                store[name] = value

    def means(self) -> dict[str, float]:
        self._read()
        return {name: self.totals[name] / self.weights[name] for name in self.totals if self.weights[name]}

    def gathered_means(self, accelerator) -> dict[str, float]:
        """The means over every process's totals and weights (each process calls this)."""
        if accelerator.num_processes == 1:
            return self.means()
        self._read()
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
