"""A loss plugin that breaks its contract during training is one message naming it, exit status 2; the held-out
metrics prefopt prints are its own, whatever rewards a loss returns."""

import pytest
import torch.nn.functional as F

from prefopt.cli import main
from prefopt.losses import Declarations, define_loss, registry
from prefopt.types import LossOutput
from tests.integration.runs import tiny_overrides, train_tiny


def _dpo(scores):
    rewards = 0.1 * scores.log_ratio()  # (N, 2)
    return LossOutput(loss=-F.logsigmoid(rewards[:, 0] - rewards[:, 1]), rewards=rewards.detach())


@define_loss("raising")
def raising(scores, options):
    raise KeyError("beta")


@define_loss("integer_loss")
def integer_loss(scores, options):
    out = _dpo(scores)
    return LossOutput(loss=out.loss.round().long(), rewards=out.rewards)


@define_loss("detached_loss")
def detached_loss(scores, options):
    out = _dpo(scores)
    return LossOutput(loss=out.loss.detach(), rewards=out.rewards)


@define_loss("string_metric")
def string_metric(scores, options):
    out = _dpo(scores)
    return LossOutput(loss=out.loss, rewards=out.rewards, metrics={"beta": "0.1"})


@define_loss("shifts_policy", declarations=Declarations(listwise=True))
def shifts_policy(scores, options):
    scores.policy[:, 0] += 5.0  # favours the best response in the engine's own tensors
    rewards = 0.1 * scores.log_ratio()
    return LossOutput(loss=-F.logsigmoid(rewards[:, 0] - rewards[:, 1]), rewards=rewards.detach())


@define_loss("logp_rewards")
def logp_rewards(scores, options):
    """DPO whose rewards are the policy log-probs instead of beta * (policy - reference)."""
    out = _dpo(scores)
    return LossOutput(loss=out.loss, rewards=scores.policy.detach())


LOSSES = [raising, integer_loss, detached_loss, string_metric, shifts_policy, logp_rewards]


@pytest.fixture(autouse=True)
def plugin_losses():
    for definition in LOSSES:
        registry.register(definition.name, definition, replace=True)
    yield
    for definition in LOSSES:
        registry.unregister(definition.name)


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ("raising", "loss 'raising' from <in-process> raised KeyError: 'beta'"),
        ("integer_loss", "loss 'integer_loss' from <in-process> returned loss of dtype torch.int64"),
        ("detached_loss", "loss 'detached_loss' from <in-process> returned a loss without a gradient"),
        ("string_metric", "loss 'string_metric' from <in-process> returned metric 'beta' of type str"),
        ("shifts_policy", "loss 'shifts_policy' from <in-process> changed its input Scores.policy in place"),
    ],
)
def test_a_loss_breaking_its_contract_stops_training_with_one_message(tmp_path, capsys, loss, message):
    assert main(["train", *tiny_overrides(tmp_path, "run"), f"loss={loss}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prefopt train: {message}") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "final").exists()


def test_held_out_accuracy_is_the_engine_s_whatever_rewards_the_loss_returns(tmp_path):
    result = train_tiny(tmp_path, "run", "loss=logp_rewards", "optim.max_steps=1")
    # before any step the policy is the reference: every implicit reward beta * (policy - reference) is 0
    assert result.initial_metrics["accuracy"] == 0.5 and result.initial_metrics["margin"] == 0.0
    assert result.initial_metrics["rewards/accuracy"] != 0.5  # the loss's own rewards, kept apart
