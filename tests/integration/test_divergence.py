"""A broken loss or a diverging run never ends silently, and never saves a non-finite state."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from prefopt.cli import main
from prefopt.engine.loop import TrainingDiverged
from prefopt.losses import define_loss, registry
from prefopt.run.directory import RunDirectory
from prefopt.types import LossOutput
from tests.integration.runs import tiny_overrides, tiny_trainer, train_tiny

TRAINING_CALLS = {"count": 0}  # loss calls with gradients: one per optimizer step at micro_batch_size = batch_size


def _dpo(scores):
    rewards = 0.1 * scores.log_ratio()  # (N, 2) for the pairs of K = 2 data
    return -F.logsigmoid(rewards[:, 0] - rewards[:, 1]), rewards.detach()


def _from_step(step: int) -> bool:
    """Count a training call; True from the ``step``-th optimizer step on."""
    if not torch.is_grad_enabled():
        return False
    TRAINING_CALLS["count"] += 1
    return TRAINING_CALLS["count"] >= step


@define_loss("nan_from_step_4")
def nan_from_step_4(scores, options):
    loss, rewards = _dpo(scores)
    return LossOutput(loss=loss * float("nan") if _from_step(4) else loss, rewards=rewards)


@define_loss("nan_gradient_from_step_3")
def nan_gradient_from_step_3(scores, options):
    loss, rewards = _dpo(scores)
    if _from_step(3):  # sqrt at 0: the value stays finite, its gradient is 0 * inf = nan
        loss = loss + 0 * torch.sqrt(scores.policy[:, 0] - scores.policy[:, 0].detach())
    return LossOutput(loss=loss, rewards=rewards)


@define_loss("always_nan")
def always_nan(scores, options):
    loss, rewards = _dpo(scores)
    return LossOutput(loss=loss * float("nan"), rewards=rewards)


@define_loss("scalar_loss")
def scalar_loss(scores, options):
    loss, rewards = _dpo(scores)
    return LossOutput(loss=loss.mean(), rewards=rewards)


@pytest.fixture(autouse=True)
def broken_losses():
    losses = [nan_from_step_4, nan_gradient_from_step_3, always_nan, scalar_loss]
    for definition in losses:
        registry.register(definition.name, definition, replace=True)
    TRAINING_CALLS["count"] = 0
    yield
    for definition in losses:
        registry.unregister(definition.name)


def _train(tmp_path, *overrides):
    return main(["train", *tiny_overrides(tmp_path, "run"), *overrides])


def _checkpoints(output_dir):
    return sorted(path.name for path in (output_dir / "checkpoints").iterdir())


def test_non_finite_loss_mid_run_stops_and_keeps_the_checkpoint_before(tmp_path, capsys):
    output = tmp_path / "run"
    assert _train(tmp_path, "loss=nan_from_step_4", "optim.max_steps=6", "logging.save_every=2") == 3
    err = capsys.readouterr().err
    assert "training diverged at step 4 of 6" in err
    assert "loss 'nan_from_step_4' from <in-process> returned a non-finite loss (nan)" in err
    assert "Traceback" not in err
    assert not (output / "final").exists() and not (output / "final.tmp").exists()
    assert _checkpoints(output) == [RunDirectory(output).checkpoint(2).name]
    kept = RunDirectory(output).checkpoint(2)
    assert json.loads((kept / "trainer_state.json").read_text())["step"] == 2
    assert all(torch.isfinite(value).all() for value in load_file(str(kept / "model.safetensors")).values())
    logged = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in logged if line["split"] == "train"] == [1, 2, 3]
    assert all(math.isfinite(line["loss"]) for line in logged)


def test_non_finite_gradient_is_never_applied(tmp_path):
    trainer = tiny_trainer(tmp_path, "run", "loss.name=nan_gradient_from_step_3", "optim.max_steps=4", "logging.save_every=1")
    with pytest.raises(TrainingDiverged, match=r"step 3 of 4: the gradient norm is nan while the loss was finite"):
        trainer.run()
    output = tmp_path / "run"
    assert not (output / "final").exists()
    assert _checkpoints(output) == [RunDirectory(output).checkpoint(step).name for step in (1, 2)]
    saved = load_file(str(RunDirectory(output).checkpoint(2) / "model.safetensors"))
    in_memory = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    for name, value in saved.items():  # the failing step left the weights of step 2 as they were
        assert torch.equal(in_memory[name], value), name
    trainer.close()


def test_learning_rate_too_large_diverges_at_the_second_step(tmp_path):
    # AdamW moves every weight by about lr in the first step: with weights near 1e30 the next step overflows float32
    # (in the backward pass with this torch on CPU; a non-finite loss would stop it the same way)
    with pytest.raises(TrainingDiverged, match=r"step 2 of 3: (the gradient norm is nan|loss 'dpo' .* non-finite)"):
        train_tiny(tmp_path, "run", "optim.lr=1e30", "logging.save_every=1")
    assert not (tmp_path / "run" / "final").exists()
    assert _checkpoints(tmp_path / "run") == [RunDirectory(tmp_path / "run").checkpoint(1).name]


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ("always_nan", "loss 'always_nan' from <in-process> returned a non-finite loss (nan) for 8 of 8 values"),
        (
            "scalar_loss",
            "loss 'scalar_loss' from <in-process> returned loss of shape () but prefopt needs one value per "
            "preference pair, shape (8,)",
        ),
    ],
)
def test_a_broken_loss_stops_on_the_first_batch_with_one_message(tmp_path, capsys, loss, message):
    assert _train(tmp_path, f"loss={loss}", "logging.save_every=1") == 2
    err = capsys.readouterr().err
    assert err.startswith("prefopt train: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "final").exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_non_finite_weights_are_never_saved(tmp_path):
    # RMSprop's first step moves a weight by lr * g / sqrt(0.01 g^2) = 10 lr: 1e39 is past float32's largest value
    with pytest.raises(TrainingDiverged, match=r"step 1 of 3: the weights are no longer finite"):
        train_tiny(tmp_path, "run", "optim.optimizer=rmsprop", "optim.lr=1e38", "logging.save_every=1")
    assert not (tmp_path / "run" / "final").exists()
    assert not list((tmp_path / "run" / "checkpoints").glob("step-*"))
