"""report.json's costs agree with themselves as written, however short the training was."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from prefopt.run.costs import PHASES, RunCosts


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
    assert abs(report["tokens_per_second"] - tokens / shown) <= 0.05 * (1 + 1e-12)
