"""What every property check shares: the search budget, hypothesis's search for a counterexample (over the
scores and, with :func:`holds_over_options`, over the loss's own numeric options), and float64 comparisons of
loss values.

Exact comparisons run in float64 with relative tolerance 1e-7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, cases
from prefopt.verify.options import option_draws, with_options

EXACT_MAGNITUDE = 100.0  # log-prob range for comparisons against formulas (float64)


class Violation(AssertionError):
    """A property does not hold; the message says what was observed."""


class Counterexample(AssertionError):
    """A property failed; the message says how and gives hypothesis's smallest failing example."""


@dataclass(frozen=True)
class Budget:
    """How hard hypothesis searches: examples per property and the seed that makes runs repeatable."""

    max_examples: int = 50
    seed: int = 0


def holds(strategy: st.SearchStrategy, test: Callable[[object], None], budget: Budget) -> None:
    """Run ``test`` on examples of ``strategy``; a failure raises :class:`Counterexample` with the smallest example."""
    failing: list[object] = []

    @seed(budget.seed)
    @settings(
        max_examples=budget.max_examples,
        deadline=None,
        database=None,
        print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no "explain"
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def property_test(example: object) -> None:
        try:
            test(example)
        except Exception:
            failing.append(example)
            raise

    try:
        property_test()
    except Exception as error:  # hypothesis replays the shrunk example last, so failing[-1] is the smallest
        if not failing:
            raise
        what = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
        raise Counterexample(f"{what}\nsmallest counterexample: {failing[-1]!r}") from error


def holds_over_options(
    loss: Loss, strategy: st.SearchStrategy, test: Callable[[Loss, Any], None], budget: Budget
) -> None:
    """Run ``test(drawn_loss, example)`` on examples of ``strategy`` and draws of the loss's unpinned numeric
    options (:func:`~prefopt.verify.options.option_draws`); the counterexample shows the drawn options first.

    The drawn losses make the same claims as ``loss``, so ``strategy`` may be built from ``loss``'s declarations.
    """

    def test_drawn(example: tuple[dict[str, Any], Any]) -> None:
        values, inner = example
        test(with_options(loss, values), inner)

    holds(st.tuples(option_draws(loss), strategy), test_drawn, budget)


def exact_cases(loss: Loss, **kwargs) -> st.SearchStrategy[Case]:
    """Cases for comparisons against formulas: log-probs in [-EXACT_MAGNITUDE, 0]; ``kwargs`` go to ``cases``."""
    return cases(loss.declarations, magnitude=EXACT_MAGNITUDE, **kwargs)


def loss_value(loss: Loss, case: Case, **scores_kwargs) -> float:
    """The loss of ``case`` as a float (float64 scores unless ``scores_kwargs`` say otherwise)."""
    scores, _ = case.scores(**scores_kwargs)
    return float(loss(scores).loss)


def close(actual: float, expected: float, tolerance: float = 1e-7) -> bool:
    return abs(actual - expected) <= tolerance * (1.0 + abs(expected))


def expect_close(actual: float, expected: float, what: str) -> None:
    if not close(actual, expected):
        raise Violation(f"{what}: got {actual!r}, expected {expected!r}")
