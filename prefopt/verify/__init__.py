"""The theory kit: THEORY.md section 8 as checks that run on any registered loss.

``check_loss(name)`` runs every property that the loss's declarations call for (``prefopt verify NAME`` on the
command line); :data:`PROPERTIES` lists them with the declaration that triggers each;
:func:`check_tabular_optimum` is the bandit check of Theorem 1.
"""

from prefopt.verify.bandit import Bandit, BanditResult, check_tabular_optimum, make_bandit
from prefopt.verify.check import PropertyResult, check_loss
from prefopt.verify.properties import PROPERTIES, Budget, Property, Violation

__all__ = [
    "PROPERTIES",
    "Bandit",
    "BanditResult",
    "Budget",
    "Property",
    "PropertyResult",
    "Violation",
    "check_loss",
    "check_tabular_optimum",
    "make_bandit",
]
