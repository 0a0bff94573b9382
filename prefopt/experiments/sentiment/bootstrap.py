"""Interval estimates of a frontier point, from its per-sample values: a bootstrap clustered by prompt.

The K samples of one held-out prompt are not independent (they share the prompt), so an interval that treats the
P x K values as independent is too narrow. The clustered bootstrap resamples *prompts* with replacement and keeps
all K samples of each drawn prompt; each resample's statistic is the mean of its P x K values, and the interval is
the percentile interval of those means (Efron and Tibshirani 1993, ch. 13; Field and Welsh 2007 on clustered data).
A paired difference of two (P, K) arrays measured on the same prompts resamples the prompts once for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

RESAMPLES = 2000
LEVEL = 0.95
BOOTSTRAP_SEED = 20230529  # one fixed seed: every interval of a run uses the same resampled prompts


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: ``resamples`` resamples of the prompts, seeded, ``level`` two-sided coverage."""

    resamples: int = RESAMPLES
    level: float = LEVEL
    seed: int = BOOTSTRAP_SEED

    def indices(self, prompts: int) -> torch.Tensor:
        """(resamples, prompts) indices of prompts drawn with replacement."""
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randint(prompts, (self.resamples, prompts), generator=generator)

    def interval(self, values: torch.Tensor) -> tuple[float, float]:
        """Percentile interval of the mean of (P, K) ``values`` (P prompts, K samples each), prompts resampled.

        With K equal for every prompt, the mean of the resampled P x K values is the mean of the resampled
        per-prompt means, so the bootstrap runs on the (P,) per-prompt means.
        """
        per_prompt = values.double().mean(dim=1)
        means = per_prompt[self.indices(len(per_prompt))].mean(dim=1)
        tail = (1 - self.level) / 2
        low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
        return low, high

    def paired_difference(self, first: torch.Tensor, second: torch.Tensor) -> dict:
        """mean(first) - mean(second) of (P, K1) and (P, K2) values of the same P prompts, its interval with the
        prompts resampled jointly, and whether 0 is inside it."""
        difference = first.double().mean(dim=1) - second.double().mean(dim=1)
        low, high = self.interval(difference[:, None])
        return {
            "difference": float(difference.mean()),
            "interval": [low, high],
            "zero_inside": low <= 0.0 <= high,
        }


def naive_half_width(values: torch.Tensor, level: float = LEVEL) -> float:
    """z * sd / sqrt(n) of the P x K values taken as independent (the interval that ignores the prompts)."""
    flat = values.double().flatten()
    z = math.sqrt(2) * float(torch.erfinv(torch.tensor(level, dtype=torch.float64)))
    return z * float(flat.std()) / math.sqrt(flat.numel())
