"""``prefopt verify``: exit codes and what it prints."""

from __future__ import annotations

import torch.nn.functional as F

from prefopt import Declarations, LossOutput, register_loss
from prefopt.cli import main
from prefopt.losses import registry


def test_verify_dpo_passes(capsys):
    assert main(["verify", "dpo", "--max-examples", "10"]) == 0
    out = capsys.readouterr().out
    assert "PASS  bradley_terry_gradient" in out and "SKIP  k2_equals_dpo" in out
    assert "0 failed" in out


def test_verify_a_wrong_loss_fails_with_a_counterexample(capsys):
    @register_loss("cli_not_monotone", declarations=Declarations(needs_reference=False, monotone=True))
    def cli_not_monotone(scores, options):
        """-log sigma(-(p_w - p_l)): prefers the rejected response while claiming monotone."""
        value = -F.logsigmoid(scores.policy[:, 1] - scores.policy[:, 0])
        return LossOutput(loss=value, rewards=scores.policy.detach())

    try:
        assert main(["verify", "cli_not_monotone", "--max-examples", "10", "--seed", "3"]) == 1
    finally:
        registry.unregister("cli_not_monotone")
    out = capsys.readouterr().out
    assert "FAIL  monotone" in out and "smallest counterexample" in out
    assert "FAIL  rewards_order" in out  # its rewards favour the response its loss pushes down
    assert "2 failed" in out


def test_verify_passes_options_and_rejects_bad_ones(capsys):
    assert main(["verify", "dpo", "--max-examples", "5", "--option", "label_smoothing=0.1"]) == 0
    out = capsys.readouterr().out
    assert "label_smoothing=0.1" in out and "SKIP  monotone" in out
    assert main(["verify", "dpo", "--option", "label_smoothing=0.9"]) == 2
    assert "label_smoothing" in capsys.readouterr().err


def test_verify_unknown_loss_suggests_a_name(capsys):
    assert main(["verify", "dpoo"]) == 2
    assert "did you mean 'dpo'" in capsys.readouterr().err
