"""report.json's costs agree with themselves as written, however short the training was."""

from __future__ import annotations

import torch
from hypothesis import example, given
from hypothesis import strategies as st

from prefopt.run.costs import PHASES, RunCosts


@example(training=4.0, tokens=8193)  # 2048.25 shown as 2048.2: exactly half a unit off
@given(
    training=st.floats(min_value=1e-4, max_value=1e5, allow_nan=False),
    tokens=st.integers(min_value=1, max_value=10**9),
)
def test_tokens_per_second_is_the_tokens_over_the_seconds_shown(training, tokens):
    costs = RunCosts()
    costs.seconds["training"] = training
    costs.training_tokens = tokens
    report = costs.report(torch.device("cpu"))
    shown = report["wall_seconds"]["training"]
    assert set(report["wall_seconds"]) == set(PHASES)
    # a reader dividing the two figures gets the rate shown, to its one decimal
    rate = tokens / shown
    assert abs(report["tokens_per_second"] - rate) <= 0.05 + 1e-12 * rate  # half a unit of the last place shown
