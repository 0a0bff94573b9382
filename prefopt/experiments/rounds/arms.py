"""The arms of the rounds experiment and its sizes.

An arm trains one loss from pi_ref in ``rounds`` rounds; round r samples K completions of its own slice of the
training prefixes from pi_{r-1}, scores and ranks them, and trains ``steps / rounds`` steps against pi_ref (the
``fixed`` reference) or pi_{r-1} (``moving``). An offline arm is one round: every prefix sampled from pi_ref, every
step trained on those samples. Every arm of a size therefore sees the same number of prefixes, samples and steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from prefopt.experiments.sentiment.sizes import SIZES as SENTIMENT_SIZES
from prefopt.experiments.sentiment.sizes import ExperimentSize

PL = {"name": "plackett_luce", "beta": 0.1}
DPO_ALL = {"name": "dpo", "beta": 0.1, "pairs": "all"}
DPO_BEST_VS_WORST = {"name": "dpo", "beta": 0.1, "pairs": "best_vs_worst"}


@dataclass(frozen=True)
class Arm:
    """One way of training: ``loss`` (a loss spec) over ``rounds`` rounds (1: offline) against the ``reference``
    (``fixed``: pi_ref; ``moving``: the policy each round starts from), each round sampling the policy it starts
    from (``samples_from`` ``policy``) or pi_ref (``start``); ``family`` colours it in the plot."""

    name: str
    family: str
    loss: dict[str, Any]
    rounds: int
    reference: str = "fixed"
    samples_from: str = "policy"


def arms(rounds: int, moving: bool = False) -> tuple[Arm, ...]:
    """Plackett-Luce, DPO on all pairs and DPO on best-vs-worst, each in ``rounds`` rounds; Plackett-Luce in
    ``rounds`` rounds of pi_ref's samples (the same rounds, fresh optimizer each, without on-policy samples);
    Plackett-Luce and DPO on all pairs offline; and, with ``moving``, Plackett-Luce in rounds against a moving
    reference."""
    chosen = (
        Arm(f"pl x{rounds}", f"plackett_luce, {rounds} rounds", PL, rounds),
        Arm(f"dpo-all x{rounds}", f"dpo all pairs, {rounds} rounds", DPO_ALL, rounds),
        Arm(f"dpo-bvw x{rounds}", f"dpo best vs worst, {rounds} rounds", DPO_BEST_VS_WORST, rounds),
        Arm(
            f"pl x{rounds} pi_ref samples",
            f"plackett_luce, {rounds} rounds of pi_ref samples",
            PL,
            rounds,
            samples_from="start",
        ),
        Arm("pl offline", "plackett_luce, offline", PL, 1),
        Arm("dpo-all offline", "dpo all pairs, offline", DPO_ALL, 1),
    )
    if moving:
        chosen += (Arm(f"pl x{rounds} moving", f"plackett_luce, {rounds} rounds, moving ref", PL, rounds, "moving"),)
    return chosen


@dataclass(frozen=True)
class RoundsSize:
    """The sentiment experiment's size ``base`` (prompts, SFT, sampling, batch, learning rate, evaluation),
    ``rounds`` rounds for the arms that use them, and the ``arms``."""

    base: ExperimentSize
    rounds: int
    arms: tuple[Arm, ...]

    def __post_init__(self) -> None:
        for arm in self.arms:
            if self.base.steps % arm.rounds or self.base.train_prompts % arm.rounds:
                raise ValueError(
                    f"{arm.name}: {arm.rounds} rounds must divide the {self.base.steps} steps and the "
                    f"{self.base.train_prompts} training prefixes"
                )

    @property
    def measure_every(self) -> int:
        """Steps between two measurements of every arm: the steps of one round of the arms in rounds."""
        return self.base.steps // self.rounds

    def steps_per_round(self, arm: Arm) -> int:
        return self.base.steps // arm.rounds

    def prompts_per_round(self, arm: Arm) -> int:
        return self.base.train_prompts // arm.rounds


SIZES: dict[str, RoundsSize] = {
    "test": RoundsSize(SENTIMENT_SIZES["test"], rounds=2, arms=arms(2, moving=True)),
    # best-of-N up to N = 32 (2.5 nats): the budgets the policies of the rounds reach
    "default": RoundsSize(replace(SENTIMENT_SIZES["default"], best_of=(1, 2, 4, 8, 16, 32)), rounds=4, arms=arms(4)),
    "large": RoundsSize(SENTIMENT_SIZES["large"], rounds=4, arms=arms(4)),
}
