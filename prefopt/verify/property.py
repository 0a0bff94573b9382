"""A checkable statement about losses and the ordered registry of all of them.

Each property is defined where its check is, by :func:`register_property`::

    @register_property(
        "monotone",
        "raising the best response's log-prob never raises the loss (8.5)",
        skip=unless_declared("monotone"),
    )
    def monotone(loss: Loss, budget: Budget) -> None: ...

:data:`PROPERTIES` keeps the properties in the order they were registered, which is the order in which
``check_loss`` runs them and ``prefopt verify`` prints them.
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
        name: short identifier (``shift_policy``).
        statement: what is checked and where the theory says so.
        skip: returns why the property does not apply to a loss, or None when it applies.
        check: raises :class:`~prefopt.verify.search.Violation` (or any exception) when the property fails.
    """

    name: str
    statement: str
    skip: Skip
    check: Check


PROPERTIES: dict[str, Property] = {}


def applies_to_all(_loss: Loss) -> None:
    """The skip rule of a property that every loss must satisfy."""
    return None


def unless_declared(flag: str) -> Skip:
    """The skip rule of a property that applies when the loss declares ``flag`` (a field of its Declarations)."""

    def skip(loss: Loss) -> str | None:
        return None if getattr(loss.declarations, flag) else f"the loss does not declare {flag}"

    return skip


def register_property(name: str, statement: str, *, skip: Skip = applies_to_all) -> Callable[[Check], Check]:
    """Decorator: add the decorated check to :data:`PROPERTIES` under ``name``; the check itself is returned.

    Raises:
        ValueError: a property of that name is already registered.
    """

    def wrap(check: Check) -> Check:
        if name in PROPERTIES:
            raise ValueError(f"a property named {name!r} is already registered")
        PROPERTIES[name] = Property(name, statement, skip, check)
        return check

    return wrap
