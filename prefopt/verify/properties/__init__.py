"""The built-in properties of docs/theory.md §8, each a check that any loss can be put through.

This package is prefopt's own entry point of the group ``prefopt.properties`` (see :mod:`prefopt.verify.catalogue`),
declared in prefopt's ``pyproject.toml`` as a plugin declares its property module.

A property applies to a loss according to its :class:`~prefopt.losses.Declarations` (its skip rule) and either
holds or raises :class:`~prefopt.verify.search.Violation`. Hypothesis-based checks draw inputs from
:mod:`prefopt.verify.cases`; a failure is shrunk to hypothesis's smallest failing example.

Each module of this package defines its properties with :func:`~prefopt.verify.property.register_property`, in
definition order; :data:`MODULES` imports the modules in the order the properties run and are reported:
inputs left alone (§8.13), stability (§8.6), lower bounds (§8.14), batch invariances (§8.7), the reference and
reward differences (§8.3, §8.11), length normalisation (§8.9), monotonicity (§8.5), target margins (§8.10),
Bradley-Terry (§8.1, §8.2, §8.4, §8.8), the rewards returned (§8.15, §8.16), ties (§8.12).

Notation: h = log pi_theta - log pi_ref (log pi_theta alone for reference-free losses), w the best response of a
pair and l the other, beta the loss's ``beta`` option.
"""

from importlib import import_module

# the modules in the order their properties run and are reported; each defines its properties on import
MODULES = (
    "inputs",
    "stability",
    "bounds",
    "invariance",
    "reference",
    "lengths",
    "monotone",
    "margin",
    "bradley_terry",
    "rewards",
    "ties",
)
for _module in MODULES:
    import_module(f"{__name__}.{_module}")

__all__ = ["MODULES"]
