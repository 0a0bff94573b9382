"""Training in rounds on fresh samples (iterative preference optimisation with K-way rankings).

``prefopt.rounds(config)`` runs them (:func:`prefopt.rounds.run.rounds`); ``prefopt rounds CONFIG`` is its
command line. The package itself is callable, so that ``prefopt.rounds(config)`` works whether or not
``prefopt.rounds.<module>`` was imported first (importing a submodule binds the package to ``prefopt.rounds``).
"""

import sys
import types

from prefopt.rounds.config import RoundsConfig, load_rounds_config
from prefopt.rounds.run import RoundsResult, rounds

__all__ = ["RoundsConfig", "RoundsResult", "load_rounds_config", "rounds"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs) -> RoundsResult:
        return rounds(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
