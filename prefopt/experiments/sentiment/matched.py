"""Reward at matched KL: each method's reward where its policies have spent a given KL budget, with intervals.

A run's checkpoints (pi_ref at KL 0, then its evaluation steps) trace a curve of mean reward against mean
log-ratio; its reward at a budget of kappa nats is read off that curve linearly between the last checkpoint below
kappa and the first at or above it (none if the run never reaches kappa). A family's reward at kappa is the best of
its runs (its swept settings: a baseline tuned as hard as the method), averaged over seeds; best-of-N is read off
its own curve (analytic KL). The interval resamples the held-out prompts (:class:`Bootstrap`): every point of every
run of a seed is recomputed from the same resampled prompts, the curves and maxima recomputed, and a difference of
two families at kappa is taken within each resample (paired). The maximum over a sweep favours families with more
runs a little; the table says how many runs each has.
"""

from __future__ import annotations

import math

import torch

from prefopt.experiments.sentiment.bootstrap import Bootstrap
from prefopt.experiments.sentiment.frontier import best_of_n, best_of_n_kl

BUDGETS = (0.5, 1.0, 2.0, 4.0)  # nats
BEST_OF_N = "best-of-N (oracle)"


def curve_at(kls: torch.Tensor, rewards: torch.Tensor, budget: float) -> torch.Tensor:
    """(B,) rewards at ``budget`` of B resampled curves, each (B, T) KL and reward in checkpoint order; NaN where a
    curve never reaches the budget."""
    reached = kls >= budget
    first = torch.where(reached.any(dim=1), reached.float().argmax(dim=1), torch.full_like(kls[:, 0], -1).long())
    out = torch.full_like(rewards[:, 0], math.nan)
    rows = (first > 0).nonzero(as_tuple=True)[0]
    after, before = first[rows], first[rows] - 1
    kl_low, kl_high = kls[rows, before], kls[rows, after]
    weight = ((budget - kl_low) / (kl_high - kl_low)).clamp(0, 1)
    out[rows] = rewards[rows, before] + weight * (rewards[rows, after] - rewards[rows, before])
    out[first == 0] = rewards[first == 0, 0]
    return out


def _resampled(values: list[list[float]], indices: torch.Tensor) -> torch.Tensor:
    """(1 + B,) the mean over prompts of (P, K) ``values``: as measured, then for each resample of the prompts."""
    per_prompt = torch.tensor(values, dtype=torch.float64).mean(dim=1)
    return torch.cat([per_prompt.mean()[None], per_prompt[indices].mean(dim=1)])


def family_curves(results: dict, per_sample: dict, seed: int, indices: torch.Tensor) -> dict[str, list]:
    """Per family of one seed, its runs' resampled curves: a list of ((1 + B, T) KL, (1 + B, T) reward) with
    pi_ref's point first; best-of-N as one curve."""
    (reference,) = [r for r in results["reference"] if r["seed"] == seed]
    pool = per_sample[reference["id"]]["rewards"]
    ref_reward = _resampled(pool, indices)
    zeros = torch.zeros_like(ref_reward)
    curves: dict[str, list] = {}
    for run in results["runs"]:
        if run["seed"] != seed or not run["points"]:
            continue
        kls = [zeros] + [_resampled(per_sample[p["id"]]["log_ratios"], indices) for p in run["points"]]
        rewards = [ref_reward] + [_resampled(per_sample[p["id"]]["rewards"], indices) for p in run["points"]]
        curves.setdefault(run["family"], []).append((torch.stack(kls, dim=1), torch.stack(rewards, dim=1)))
    sizes = sorted(b["n"] for b in results["best_of_n"] if b["seed"] == seed)
    maxima = best_of_n(torch.tensor(pool, dtype=torch.float64), tuple(sizes))
    best_rewards = torch.stack([_resampled(maxima[n].tolist(), indices) for n in sizes], dim=1)
    best_kls = torch.tensor([best_of_n_kl(n) for n in sizes], dtype=torch.float64).expand_as(best_rewards)
    curves[BEST_OF_N] = [(best_kls, best_rewards)]
    return curves


def matched_kl(results: dict, per_sample: dict, bootstrap: Bootstrap, budgets: tuple[float, ...] = BUDGETS) -> dict:
    """``{"budgets", "families": {family: {"runs", "reward": [per budget: {"reward", "interval", "reached"}]}},
    "differences": [{"first", "second", "budget", "difference", "interval", "zero_inside"}]}``: every family's
    reward at each budget (mean over seeds of the best run of the family) and every pair's difference."""
    prompts = len(per_sample[results["reference"][0]["id"]]["rewards"])
    indices = bootstrap.indices(prompts)
    by_seed = [family_curves(results, per_sample, seed, indices) for seed in results["seeds"]]
    families = list(by_seed[0])
    values: dict[str, list[torch.Tensor]] = {}  # family -> per budget (1 + B,) over seeds' mean
    for family in families:
        values[family] = []
        for budget in budgets:
            per_seed = [
                torch.stack([curve_at(kls, rewards, budget) for kls, rewards in curves[family]])
                .nan_to_num(nan=-math.inf)
                .amax(dim=0)
                for curves in by_seed
            ]
            mean = torch.stack(per_seed).mean(dim=0)
            values[family].append(torch.where(torch.isinf(mean), math.nan, mean))
    level_tail = (1 - bootstrap.level) / 2

    def summary(draws: torch.Tensor) -> dict:
        estimate, resampled = float(draws[0]), draws[1:]
        finite = resampled[~torch.isnan(resampled)]
        reached = float(finite.numel() / resampled.numel())
        if math.isnan(estimate) or reached < 1 - level_tail:
            return {"reward": None, "interval": None, "reached": reached}
        low, high = torch.quantile(finite, torch.tensor([level_tail, 1 - level_tail], dtype=torch.float64)).tolist()
        return {"reward": estimate, "interval": [low, high], "reached": reached}

    out = {
        "budgets": list(budgets),
        "families": {
            family: {
                "runs": len(by_seed[0][family]),
                "reward": [summary(draws) for draws in values[family]],
            }
            for family in families
        },
        "differences": [],
    }
    for i, first in enumerate(families):
        for second in families[i + 1 :]:
            for j, budget in enumerate(budgets):
                difference = summary(values[first][j] - values[second][j])
                if difference["reward"] is None:
                    continue
                low, high = difference["interval"]
                out["differences"].append(
                    {
                        "first": first,
                        "second": second,
                        "budget": budget,
                        "difference": difference["reward"],
                        "interval": [low, high],
                        "zero_inside": low <= 0.0 <= high,
                    }
                )
    return out
