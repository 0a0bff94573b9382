"""What a round reports of sampled completions: their mean score with a standard error clustered by prompt, and
the KL divergence of the policy that sampled them from the starting model.

The K scores of one prompt are correlated (one prompt, one policy), so the standard error is that of the P
per-prompt means, ``stdev(means) / sqrt(P)``, not of the P * K scores as if independent. For completions
y ~ pi(.|x), KL(pi || pi_0) = E[log pi(y|x) - log pi_0(y|x)] is estimated by the mean log-ratio over the samples
(the DPO paper's Figure 2 x-axis, App. C.1).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from prefopt.sampling import PromptSamples, sample_log_probs


def clustered_mean(scores: Sequence[Sequence[float]]) -> dict[str, float | None]:
    """``{"mean", "se"}`` of P prompts' scores (K each): the mean of every score and the standard error of the
    per-prompt means (None for one prompt)."""
    means = [statistics.fmean(row) for row in scores]
    every = [score for row in scores for score in row]
    se = statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else None
    return {"mean": statistics.fmean(every), "se": se}


def kl_estimate(policy, start, samples: list[PromptSamples], pad_token_id: int) -> float:
    """Mean of log pi(y|x) - log pi_0(y|x) over ``samples`` drawn from ``policy`` (pi), ``start`` being pi_0."""
    log_ratio = sample_log_probs(policy, samples, pad_token_id) - sample_log_probs(start, samples, pad_token_id)
    return float(log_ratio.mean())
