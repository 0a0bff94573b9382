"""The theory kit: THEORY.md section 8 as checks that run on any registered loss.

``check_loss(name)`` runs every property that the loss's declarations call for (``prefopt verify NAME`` on the
command line); :data:`PROPERTIES` lists them in order, each a :class:`Property` with its statement, the rule
that skips it for a loss whose declarations do not call for it, and its check; :func:`check_tabular_optimum` is the
bandit check of Theorem 1.

Layout: :mod:`~prefopt.verify.property` (the :class:`Property` record and the ``register_property`` decorator),
:mod:`~prefopt.verify.search` (the hypothesis search and float64 comparisons), :mod:`~prefopt.verify.cases`
(the inputs), :mod:`prefopt.verify.properties` (the checks, one module per theme), :mod:`~prefopt.verify.bandit`
(the tabular check) and :mod:`~prefopt.verify.check` (``check_loss``).
"""

from prefopt.verify.bandit import Bandit, BanditResult, check_tabular_optimum, make_bandit
from prefopt.verify.check import PropertyResult, check_loss
from prefopt.verify.properties import PROPERTIES
from prefopt.verify.property import Property
from prefopt.verify.search import Budget, Violation

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
