"""Run the properties that a loss's declarations call for and collect one result per property."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from prefopt.losses import Loss, LossDefinition, get_loss
from prefopt.verify.catalogue import PROPERTIES
from prefopt.verify.search import Budget


@dataclass(frozen=True)
class PropertyResult:
    """The outcome of one property on one loss.

    Attributes:
        name: the property's name (a key of :data:`~prefopt.verify.catalogue.PROPERTIES`).
        passed: True when the property was checked and holds.
        skipped_reason: why the property does not apply (None when it was checked).
        counterexample: for a failure, what went wrong and hypothesis's smallest failing example.
    """

    name: str
    passed: bool
    skipped_reason: str | None = None
    counterexample: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


def _as_loss(name_or_loss: str | Loss | LossDefinition, options: Mapping[str, Any]) -> Loss:
    """The bound loss to check; non-finite outputs are returned, not raised, since properties observe them."""
    if isinstance(name_or_loss, Loss):
        if options:
            raise ValueError("options apply to a loss given by name or definition, not to a bound Loss")
        loss = name_or_loss
    elif isinstance(name_or_loss, LossDefinition):
        loss = Loss(name_or_loss, name_or_loss.options(**options))
    else:
        loss = get_loss(name_or_loss, **options)
    return replace(loss, require_finite=False)


def _describe_failure(error: BaseException) -> str:
    if isinstance(error, AssertionError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def check_loss(
    name_or_loss: str | Loss | LossDefinition,
    *,
    options: Mapping[str, Any] | None = None,
    max_examples: int = 50,
    seed: int = 0,
    properties: Iterable[str] | None = None,
) -> list[PropertyResult]:
    """Check a loss against every installed property (:data:`PROPERTIES`) its declarations call for.

    Args:
        name_or_loss: a registered name, a :class:`LossDefinition`, or a bound :class:`Loss`.
        options: the loss's options when given by name or definition (validated by its options model).
        max_examples: hypothesis examples per property.
        seed: makes the hypothesis search and the bandit's samples repeatable.
        properties: names of the properties to run (default: all of them; a property module that cannot be
            loaded is left out: see :func:`~prefopt.verify.catalogue.property_problems`).

    Returns:
        One :class:`PropertyResult` per property, in the order of :data:`PROPERTIES`; properties that do not
        apply are returned as skipped, with the reason.
    """
    loss = _as_loss(name_or_loss, options or {})
    installed = dict(PROPERTIES)
    selected = list(installed) if properties is None else list(properties)
    unknown = [name for name in selected if name not in installed]
    if unknown:
        raise KeyError(f"unknown properties {unknown}; known: {', '.join(installed)}")
    budget = Budget(max_examples=max_examples, seed=seed)
    results = []
    for name in selected:
        prop = installed[name]
        reason = prop.skip(loss)
        if reason is not None:
            results.append(PropertyResult(name, passed=False, skipped_reason=reason))
            continue
        try:
            prop.check(loss, budget)
        except Exception as error:  # any exception raised by the loss is a failure of the property
            results.append(PropertyResult(name, passed=False, counterexample=_describe_failure(error)))
        else:
            results.append(PropertyResult(name, passed=True))
    return results
