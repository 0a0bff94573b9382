"""The loss leaves its inputs alone (docs/theory.md §8.13): every tensor of the Scores it is given holds the same values
after the call.

The engine reads the same scores after the loss (the held-out reward accuracy, the logged log-probs), so a loss
that writes into them in place (``scores.policy -= 1``, ``scores.reference.mul_(0)``) corrupts what is reported
without an error. The loss function is called directly, on the Scores a pairwise loss receives (one pair per row)
or a listwise one (padded rankings), so a write is seen even where the engine passes the loss a copy.
"""

from __future__ import annotations

import dataclasses

import torch

from prefopt.losses import Loss
from prefopt.types import Scores
from prefopt.verify.cases import Case
from prefopt.verify.property import register_property
from prefopt.verify.search import Budget, Violation, exact_cases, holds_over_options


def tensor_fields(scores: Scores) -> dict[str, torch.Tensor]:
    """The Scores' tensors by field name (fields that are None are left out)."""
    fields = ((field.name, getattr(scores, field.name)) for field in dataclasses.fields(scores))
    return {name: value for name, value in fields if value is not None}


@register_property(
    "inputs_unchanged", "the loss does not change the Scores it is given: every tensor keeps its values (8.13)"
)
def inputs_unchanged(loss: Loss, budget: Budget) -> None:
    def test(drawn: Loss, case: Case) -> None:
        scores, _ = case.scores()
        before = {name: value.clone() for name, value in tensor_fields(scores).items()}
        drawn.definition.function(scores, drawn.options)
        for name, value in before.items():
            now = getattr(scores, name)
            if now is None or not torch.equal(now, value):
                shown = None if now is None else now.tolist()
                raise Violation(f"the loss changed Scores.{name}: {value.tolist()} became {shown}")

    listwise = loss.declarations.listwise
    strategy = exact_cases(loss, ragged=True) if listwise else exact_cases(loss, slots=(2, 2))
    holds_over_options(loss, strategy, test, budget)
