"""Rounds on the sentiment task: is training on fresh samples of the current policy, round after round, worth it?

The setting of :mod:`prefopt.experiments.sentiment` (the same SFT pi_ref, prompts, scorer, evaluation draws,
intervals and endings of completions), trained in rounds with ``prefopt.rounds``: Plackett-Luce on K-way rankings,
DPO on all pairs and on best-vs-worst, each over R rounds, against one offline round with the same samples and
steps. ``python -m prefopt.experiments.rounds`` runs it.
"""

from prefopt.experiments.rounds.arms import SIZES, Arm, RoundsSize
from prefopt.experiments.rounds.pipeline import run_rounds_experiment

__all__ = ["SIZES", "Arm", "RoundsSize", "run_rounds_experiment"]
