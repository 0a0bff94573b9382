"""The theory kit: the identities of docs/theory.md §8 as checks that run on any registered loss.

``check_loss(name)`` runs every property that the loss's declarations call for (``prefopt verify NAME`` on the
command line); :data:`PROPERTIES` lists the installed ones in order, each a :class:`Property` with its statement,
the rule that skips it for a loss whose declarations do not call for it, and its check; :func:`list_properties`
gives each with its distribution and :func:`property_problems` the property modules that failed to load (properties
are plugins of the entry-point group ``prefopt.properties``, built-ins first); :func:`check_tabular_optimum` is the
bandit check of Theorem 1.

Layout: :mod:`~prefopt.verify.property` (the :class:`Property` record, the ``register_property`` decorator and the
skip rules), :mod:`~prefopt.verify.catalogue` (the installed properties),
:mod:`~prefopt.verify.search` (the hypothesis search and float64 comparisons), :mod:`~prefopt.verify.cases`
(the inputs), :mod:`prefopt.verify.properties` (the checks, one module per theme), :mod:`~prefopt.verify.bandit`
(the tabular check) and :mod:`~prefopt.verify.check` (``check_loss``).
"""

from prefopt.verify.bandit import Bandit, BanditResult, check_tabular_optimum, make_bandit
from prefopt.verify.catalogue import (
    PROPERTIES,
    PropertyProblem,
    ProvidedProperty,
    list_properties,
    property_problems,
)
from prefopt.verify.check import PropertyResult, check_loss
from prefopt.verify.property import Property, register_property, unless_claimed, unless_declared
from prefopt.verify.search import Budget, Violation

__all__ = [
    "PROPERTIES",
    "Bandit",
    "BanditResult",
    "Budget",
    "Property",
    "PropertyProblem",
    "PropertyResult",
    "ProvidedProperty",
    "Violation",
    "check_loss",
    "check_tabular_optimum",
    "list_properties",
    "make_bandit",
    "property_problems",
    "register_property",
    "unless_claimed",
    "unless_declared",
]
