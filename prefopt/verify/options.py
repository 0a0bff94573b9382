"""Hypothesis strategies drawing a loss's own numeric options, so that a flaw at other option values is found too.

Every float or int option that the caller did not pin (pinned: the options given explicitly, pydantic's
``model_fields_set``, e.g. ``prefopt verify NAME --option beta=1``) is drawn over its valid range, read from the
options model's field constraints (gt, ge, lt, le):

- bounded on both sides: uniform over the range;
- bounded on one side at a: a +- s * 10^u, u uniform in [-2, 2] (log-uniform), s = |default - a| (1 if 0);
- unbounded: default +- s * 10^u, s = |default| (1 if 0).

Each option is drawn from its range or kept at its value with equal chance, so that options whose value changes
the loss's declarations (DPO's ``label_smoothing`` = 0 or > 0) are still searched at their own value. Draws whose
declarations differ from the loss's own in any claim (a flag, or whether a number such as ``target_margin`` is
declared at all) are discarded: a property is checked on the losses it applies to.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st
from pydantic.fields import FieldInfo

from prefopt.losses import Declarations, Loss

DECADES = 2.0  # an unbounded side spans 10^-DECADES .. 10^DECADES times the option's scale


def same_claims(a: Declarations, b: Declarations) -> bool:
    """Equal flags, and a number (``target_margin``, ``bounded_below``) declared in both or in neither."""
    for field in dataclasses.fields(Declarations):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if (x is None) != (y is None) or (isinstance(x, bool) and x != y):
            return False
    return True


def _bounds(field: FieldInfo) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive) from the field's constraints; None for an open side."""
    low = high = None
    low_open = high_open = False
    for constraint in field.metadata:  # pydantic's annotated-types constraints: Gt(gt=...), Ge(ge=...), ...
        if getattr(constraint, "gt", None) is not None:
            low, low_open = float(constraint.gt), True
        elif getattr(constraint, "ge", None) is not None:
            low, low_open = float(constraint.ge), False
        elif getattr(constraint, "lt", None) is not None:
            high, high_open = float(constraint.lt), True
        elif getattr(constraint, "le", None) is not None:
            high, high_open = float(constraint.le), False
    return low, low_open, high, high_open


def _log_uniform(scale: float) -> st.SearchStrategy[float]:
    return st.floats(-DECADES, DECADES).map(lambda exponent: scale * 10.0**exponent)


def option_range(field: FieldInfo, default: float) -> st.SearchStrategy[float] | None:
    """Values of a numeric option over its valid range (see the module docstring); None for other options."""
    if field.annotation not in (float, int):
        return None
    low, low_open, high, high_open = _bounds(field)
    if low is not None and high is not None:
        if field.annotation is int:
            first = math.floor(low) + 1 if low_open else math.ceil(low)
            return st.integers(first, math.ceil(high) - 1 if high_open else math.floor(high))
        return st.floats(low, high, exclude_min=low_open, exclude_max=high_open, allow_subnormal=False)
    if low is not None:
        values = _log_uniform(abs(default - low) or 1.0).map(lambda offset: low + offset)
    elif high is not None:
        values = _log_uniform(abs(high - default) or 1.0).map(lambda offset: high - offset)
    else:
        values = st.tuples(st.sampled_from((-1.0, 1.0)), _log_uniform(abs(default) or 1.0)).map(
            lambda signed: default + signed[0] * signed[1]
        )
    return values.map(round) if field.annotation is int else values


def with_options(loss: Loss, values: dict[str, Any]) -> Loss:
    """``loss`` with ``values`` replacing some of its options (validated by the loss's options model)."""
    if not values:
        return loss
    options = loss.definition.options(**{**loss.options.model_dump(), **values})
    return replace(loss, options=options)


def option_draws(loss: Loss) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of drawn values of the loss's unpinned numeric options whose declarations make the same claims."""
    model = type(loss.options)
    current = loss.options.model_dump()
    searched = {}
    for name, field in model.model_fields.items():
        values = None if name in loss.options.model_fields_set else option_range(field, current[name])
        if values is not None:
            searched[name] = st.one_of(st.just(current[name]), values)
    if not searched:
        return st.just({})
    own = loss.declarations

    def valid(values: dict[str, Any]) -> bool:
        try:
            return same_claims(with_options(loss, values).declarations, own)
        except Exception:  # a cross-field rule of the options model, or declarations that fail for these values
            return False

    return st.fixed_dictionaries(searched).filter(valid)
