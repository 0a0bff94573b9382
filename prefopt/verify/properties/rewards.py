"""The rewards a loss returns (docs/theory.md §8.15, §8.16): they are part of its contract, since the engine reports the
reward accuracy and margins from them.

``rewards_order`` (every loss): take one prompt, a response i ranked strictly above a response j, and exchange
everything the loss reads about the two (log-probs, reference log-probs, lengths, token log-probs; the ranks stay).
When the rewards say the model prefers i by at least one nat (r_i >= r_j + 1), the exchange must not lower the
loss: the loss prefers the assignment that its rewards agree with. ``rewards_bradley_terry``: a loss that declares
bradley_terry returns r = beta * h up to a per-prompt shift.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from prefopt.losses import Loss
from prefopt.verify.cases import Case, Row
from prefopt.verify.properties.bradley_terry import beta_of, skip_bradley_terry
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, exact_cases, holds_over_options

REWARD_GAP = 1.0  # nats by which r_i must exceed r_j before the loss is asked to prefer i's place


def exchange(row: Row, i: int, j: int) -> Row:
    """The row with responses i and j exchanged in every field but the ranks."""

    def swap(values):
        if values is None:
            return None
        values = list(values)
        values[i], values[j] = values[j], values[i]
        return tuple(values)

    return replace(
        row, policy=swap(row.policy), reference=swap(row.reference), lengths=swap(row.lengths), tokens=swap(row.tokens)
    )


def loss_and_rewards(loss: Loss, case: Case) -> tuple[float, list[float]]:
    """The loss of a one-prompt case and its K rewards."""
    scores, _ = case.scores()
    out = loss(scores)
    return float(out.loss), out.rewards[0].tolist()


@register_property(
    "rewards_order",
    "exchanging responses i ranked above j whose rewards have r_i >= r_j + 1 does not lower the loss (8.15)",
)
def rewards_order(loss: Loss, budget: Budget) -> None:
    """One prompt (K = 2 for a pairwise loss, 2..4 for a listwise one), so losses that couple the prompts of a
    batch are checked too; ``pair`` picks i < j by position, which with strict ranks is i ranked above j."""

    def test(drawn: Loss, example: tuple[Case, tuple[int, int]]) -> None:
        case, (i, j) = example
        given = loss_and_rewards(drawn, case)
        exchanged = loss_and_rewards(drawn, case.map_rows(lambda row: exchange(row, i, j)))
        for (value, rewards), (other, other_rewards) in ((given, exchanged), (exchanged, given)):
            if rewards[i] >= rewards[j] + REWARD_GAP and other < value - 1e-9 * (1.0 + abs(value)):
                raise Violation(
                    f"rewards {rewards} prefer response {i} over {j}, as the ranking does, yet exchanging the two "
                    f"lowers the loss from {value!r} to {other!r} (rewards then {other_rewards})"
                )

    slots = (2, 4) if loss.declarations.listwise else (2, 2)
    strategy = exact_cases(loss, batch=(1, 1), slots=slots).flatmap(
        lambda case: st.tuples(
            st.just(case),
            st.lists(st.integers(0, case.rows[0].num_slots - 1), min_size=2, max_size=2, unique=True).map(sorted),
        )
    )
    holds_over_options(loss, strategy, test, budget)


@register_property(
    "rewards_bradley_terry",
    "a bradley_terry loss returns rewards beta*h up to a per-prompt shift (8.16)",
    skip=skip_bradley_terry,
)
def rewards_bradley_terry(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        scores, _ = case.scores()
        expected = beta_of(drawn) * scores.log_ratio()
        rewards = drawn(scores).rewards
        for b in range(case.batch_size):
            valid = scores.valid[b]
            shift = rewards[b][valid] - expected[b][valid]  # (K_b,) must be one constant
            tolerance = 1e-7 * (1.0 + float(expected[b][valid].abs().max()))
            if float((shift - shift[0]).abs().max()) > tolerance:
                raise Violation(
                    f"prompt {b}: rewards {rewards[b][valid].tolist()} differ from beta*h = "
                    f"{expected[b][valid].tolist()} by {shift.tolist()}, not by one constant"
                )

    holds_over_options(loss, exact_cases(loss, ragged=True), test, budget)
