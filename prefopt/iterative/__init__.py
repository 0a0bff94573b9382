"""Training in rounds on fresh samples (iterative preference optimisation with K-way rankings).

``prefopt.rounds(config)`` runs them (:func:`prefopt.iterative.run.rounds`); ``prefopt rounds CONFIG`` is its
command line; docs/rounds.md describes both.
"""

from prefopt.iterative.config import RoundsConfig, load_rounds_config
from prefopt.iterative.run import RoundsResult, rounds

__all__ = ["RoundsConfig", "RoundsResult", "load_rounds_config", "rounds"]
