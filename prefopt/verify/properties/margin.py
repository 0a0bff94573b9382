"""Target margins (docs/theory.md §8.10): a loss that declares ``target_margin`` m* is smallest there.

The per-pair loss g(m) is read on a single pair of length-1 responses whose log-ratio margin h_w - h_l is m
(length 1, so length normalisation does not change the margin). IPO, (m - 1/(2 tau))^2, has m* = 1/(2 tau)
(Azar et al. 2023, eq. 17); cDPO, (1 - eps) * -log sigma(beta m) + eps * -log sigma(-beta m), has
beta m* = log((1 - eps) / eps); the hinge max(0, 1 - beta m) is 0 from m* = 1/beta on.
"""

from __future__ import annotations

from hypothesis import strategies as st

from prefopt.losses import Declarations, Loss
from prefopt.verify.cases import Case, Row
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, holds_over_options, loss_value

# offsets from m*, as fractions of max(1, |m*|), at which every example compares g with g(m*)
OFFSETS = (1e-3, 1e-2, 0.1, 0.5, 1.0, 3.0)
MAX_LEVEL = 20.0  # how far below 0 the pair's log-probs sit


def pair_at_margin(declarations: Declarations, margin: float, level: float, reference_level: float) -> Case:
    """One prompt with two length-1 responses whose log-ratio margin h_w - h_l is ``margin``.

    The chosen policy log-prob is -level (less the margin when it is negative), the rejected one is that minus
    the margin, so both are <= 0; both reference log-probs are -reference_level.
    """
    chosen = -level + min(0.0, margin)
    policy = (chosen, chosen - margin)
    reference = (-reference_level, -reference_level) if declarations.needs_reference else None
    tokens = ((policy[0],), (policy[1],)) if declarations.needs_token_logps else None
    return Case((Row(policy=policy, reference=reference, lengths=(1, 1), tokens=tokens),))


def _skip_target_margin(loss: Loss) -> str | None:
    return None if loss.declarations.target_margin is not None else "the loss declares no target_margin"


@register_property(
    "target_margin",
    "the per-pair loss, as a function of the margin h_w - h_l, is smallest at the declared target_margin (8.10)",
    skip=_skip_target_margin,
)
def target_margin(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, example: tuple[float, float, float]) -> None:
        level, reference_level, fraction = example
        declarations = drawn.declarations
        target = declarations.target_margin
        scale = max(1.0, abs(target))
        grid = [sign * scale * offset for offset in OFFSETS for sign in (1.0, -1.0)]
        at_target = loss_value(drawn, pair_at_margin(declarations, target, level, reference_level))
        for offset in [*grid, fraction * scale]:
            margin = target + offset
            value = loss_value(drawn, pair_at_margin(declarations, margin, level, reference_level))
            if value < at_target - 1e-9 * (1.0 + abs(at_target)):
                raise Violation(
                    f"the loss is {value!r} at margin {margin!r}, below {at_target!r} at the declared "
                    f"target_margin {target!r}"
                )

    levels = st.floats(0.0, MAX_LEVEL)
    holds_over_options(loss, st.tuples(levels, levels, st.floats(-3.0, 3.0)), test, budget)
