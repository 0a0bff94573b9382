"""The rounds experiment's planned contrasts and sizes."""

from __future__ import annotations

import pytest

from prefopt.experiments.rounds.arms import SIZES, Arm, RoundsSize, arms
from prefopt.experiments.rounds.compare import planned


def test_the_planned_contrasts_name_the_arms_by_loss_rounds_and_reference():
    by_question = dict(planned(arms(4, moving=True)))
    assert by_question["rounds against offline, Plackett-Luce"] == {"pl x4": 1, "pl offline": -1}
    assert by_question["what the whole ranking buys in rounds minus what it buys offline"] == {
        "pl x4": 1,
        "dpo-all x4": -1,
        "pl offline": -1,
        "dpo-all offline": 1,
    }
    assert by_question["moving against fixed reference, Plackett-Luce in rounds"] == {"pl x4 moving": 1, "pl x4": -1}
    assert by_question["on-policy samples against pi_ref's, Plackett-Luce in rounds"] == {
        "pl x4": 1,
        "pl x4 pi_ref samples": -1,
    }
    assert len(by_question) == 8


def test_rounds_must_divide_the_steps_and_the_prefixes():
    base = SIZES["default"].base
    with pytest.raises(ValueError, match="3 rounds must divide the 16 steps"):
        RoundsSize(base, 3, (Arm("pl x3", "plackett_luce, 3 rounds", {"name": "plackett_luce"}, 3),))
