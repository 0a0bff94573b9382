"""Paired comparisons of the arms' last policies.

Every arm of a seed is measured on the same held-out prefixes, so two arms are compared prompt by prompt: a
contrast is a weighted sum of the arms' per-prompt means (a difference: weights +1 and -1; a difference of
differences: +1, -1, -1, +1) and its interval resamples the prompts (:class:`Bootstrap`). Per seed, and pooled: the
per-prompt contrasts averaged over the seeds, then the prompts resampled (the interval holds the sampling and
evaluation noise of the seeds run, not the spread of training over seeds beyond them).
"""

from __future__ import annotations

import torch

from prefopt.experiments.rounds.arms import Arm
from prefopt.experiments.sentiment.bootstrap import Bootstrap
from prefopt.experiments.sentiment.frontier import FrontierPoint

VALUES = {"reward": "rewards", "kl": "log_ratios"}


def planned(arms: tuple[Arm, ...]) -> list[tuple[str, dict[str, int]]]:
    """The contrasts the experiment asks about, among the arms present: ``(question, {arm name: weight})``."""
    by_role = {
        (arm.loss.get("pairs", arm.loss["name"]), arm.rounds > 1, arm.reference, arm.samples_from): arm.name
        for arm in arms
    }
    pl, dpo, bvw, on = "plackett_luce", "all", "best_vs_worst", "policy"
    rounds_pl, rounds_dpo = by_role.get((pl, True, "fixed", on)), by_role.get((dpo, True, "fixed", on))
    offline_pl, offline_dpo = by_role.get((pl, False, "fixed", on)), by_role.get((dpo, False, "fixed", on))
    wanted = [
        (
            "on-policy samples against pi_ref's, Plackett-Luce in rounds",
            {rounds_pl: 1, by_role.get((pl, True, "fixed", "start")): -1},
        ),
        ("rounds against offline, Plackett-Luce", {rounds_pl: 1, offline_pl: -1}),
        ("rounds against offline, DPO all pairs", {rounds_dpo: 1, offline_dpo: -1}),
        ("Plackett-Luce against DPO all pairs, in rounds", {rounds_pl: 1, rounds_dpo: -1}),
        (
            "Plackett-Luce against DPO best vs worst, in rounds",
            {rounds_pl: 1, by_role.get((bvw, True, "fixed", on)): -1},
        ),
        ("Plackett-Luce against DPO all pairs, offline", {offline_pl: 1, offline_dpo: -1}),
        (
            "what the whole ranking buys in rounds minus what it buys offline",
            {rounds_pl: 1, rounds_dpo: -1, offline_pl: -1, offline_dpo: 1},
        ),
        (
            "moving against fixed reference, Plackett-Luce in rounds",
            {by_role.get((pl, True, "moving", on)): 1, rounds_pl: -1},
        ),
    ]
    return [(question, weights) for question, weights in wanted if None not in weights]


def contrast(per_prompt: torch.Tensor, bootstrap: Bootstrap) -> dict:
    """The mean of (P,) per-prompt contrasts, its interval with the prompts resampled, and whether 0 is inside."""
    low, high = bootstrap.interval(per_prompt[:, None])
    return {"difference": float(per_prompt.mean()), "interval": [low, high], "zero_inside": low <= 0.0 <= high}


def per_prompt_contrast(points: dict[str, FrontierPoint], weights: dict[str, int], value: str) -> torch.Tensor:
    """(P,) the weighted sum of the arms' per-prompt means of ``value`` (``reward`` or ``kl``)."""
    return sum(weight * getattr(points[name], VALUES[value]).double().mean(dim=1) for name, weight in weights.items())


def contrasts(
    arms: tuple[Arm, ...],
    seeds: tuple[int, ...],
    finals: dict[tuple[int, str], FrontierPoint],
    bootstrap: Bootstrap,
) -> list[dict]:
    """The planned contrasts of the arms' last policies, in reward and in KL, per seed and pooled."""
    entries = []
    for question, weights in planned(arms):
        entry = {"question": question, "weights": weights}
        for value in VALUES:
            per_seed = {seed: per_prompt_contrast(_of(finals, seed), weights, value) for seed in seeds}
            entry[value] = {
                "per_seed": {str(seed): contrast(c, bootstrap) for seed, c in per_seed.items()},
                "pooled": contrast(torch.stack(list(per_seed.values())).mean(dim=0), bootstrap),
            }
        entries.append(entry)
    return entries


def _of(finals: dict[tuple[int, str], FrontierPoint], seed: int) -> dict[str, FrontierPoint]:
    return {name: point for (point_seed, name), point in finals.items() if point_seed == seed}
