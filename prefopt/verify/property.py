"""A checkable statement about losses, the decorator that defines one, and the skip rules.

Each property is defined where its check is, by :func:`register_property`::

    @register_property(
        "monotone",
        "raising the best response's log-prob never raises the loss (docs/theory.md §8.5)",
        skip=unless_declared("monotone"),
    )
    def monotone(loss: Loss, budget: Budget) -> None: ...

:data:`DEFINED` keeps every property defined so far in definition order. Which of them run, in which order and on
behalf of which distribution is the catalogue's business (:mod:`prefopt.verify.catalogue`): the properties of a
module named by an entry point of ``prefopt.properties``, built-ins first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prefopt.losses import Loss
from prefopt.verify.search import Budget

Skip = Callable[[Loss], str | None]
Check = Callable[[Loss, Budget], None]


@dataclass(frozen=True)
class Property:
    """One checkable statement.

    Attributes:
        name: short identifier (``shift_policy``), unique among all installed properties.
        statement: what is checked and where the theory says so.
        skip: returns why the property does not apply to a loss, or None when it applies.
        check: raises :class:`~prefopt.verify.search.Violation` (or any exception) when the property fails.
    """

    name: str
    statement: str
    skip: Skip
    check: Check

    @property
    def module(self) -> str:
        """The module that defines the check (the catalogue attributes the property to its entry point)."""
        return self.check.__module__


DEFINED: dict[str, Property] = {}


def applies_to_all(_loss: Loss) -> None:
    """The skip rule of a property that every loss must satisfy."""
    return None


def unless_declared(flag: str) -> Skip:
    """The skip rule of a property that applies when the loss declares ``flag`` (a field of its Declarations)."""

    def skip(loss: Loss) -> str | None:
        return None if getattr(loss.declarations, flag) else f"the loss does not declare {flag}"

    return skip


def unless_claimed(claim: str) -> Skip:
    """The skip rule of a property that applies when ``claim`` is one of the loss's ``Declarations.claims``
    (free-form names, for properties that a plugin ships beside the loss that makes the claim)."""

    def skip(loss: Loss) -> str | None:
        return None if claim in loss.declarations.claims else f"the loss does not claim {claim}"

    return skip


def register_property(name: str, statement: str, *, skip: Skip = applies_to_all) -> Callable[[Check], Check]:
    """Decorator: add the decorated check to :data:`DEFINED` under ``name``; the check itself is returned.

    Raises:
        ValueError: a property of that name is already defined (a plugin module that raises it on import is
            reported as a problem of its distribution).
    """

    def wrap(check: Check) -> Check:
        if name in DEFINED:
            raise ValueError(f"a property named {name!r} is already defined (in {DEFINED[name].module})")
        DEFINED[name] = Property(name, statement, skip, check)
        return check

    return wrap
