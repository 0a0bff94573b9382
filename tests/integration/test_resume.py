"""Resume is exact and honest: killed runs, finished runs, changed settings and checkpoint retention."""

import shutil

import pytest
import torch
import yaml

from prefopt.cli import main
from prefopt.run.directory import RunDirectory
from tests.integration.runs import (
    final_weights,
    logged_lines,
    reported_results,
    tiny_overrides,
    train_tiny,
    train_until_killed,
)


def _assert_same_weights(a, b):
    for name, value in final_weights(a).items():
        assert torch.equal(value, final_weights(b)[name]), name


def _resume(tmp_path, name, *overrides):
    return main(["train", *tiny_overrides(tmp_path, name), *overrides, "--resume"])


@pytest.mark.parametrize(
    ("save_every", "log_every", "killed_after"),
    [(3, 2, 5), (2, 3, 5)],
    # killed after 5 steps: resumed from step 3 with lines of step 4 to drop and step 3 in the open window; or
    # from step 4, whose window holds step 4 and was opened after the checkpoint of step 2
    ids=["lines-after-the-checkpoint", "window-across-checkpoints"],
)
def test_run_killed_after_a_checkpoint_resumes_to_the_same_metrics_lines(tmp_path, save_every, log_every, killed_after):
    settings = [
        "optim.max_steps=7",
        f"logging.save_every={save_every}",
        f"logging.log_every={log_every}",
        "logging.eval_every=2",
        "optim.warmup_steps=2",
    ]
    whole = train_tiny(tmp_path, "whole", *settings)
    killed = train_until_killed(tmp_path, "killed", f"step:{killed_after}", *settings)
    assert not (killed / "final").exists()
    resumed = train_tiny(tmp_path, "killed", *settings, resume=True)
    assert logged_lines(killed / "metrics.jsonl") == logged_lines(whole.run_dir / "metrics.jsonl")
    _assert_same_weights(resumed, whole)


def test_run_killed_in_its_final_save_finishes_the_save(tmp_path):
    settings = ["optim.max_steps=4", "logging.save_every=2"]
    whole = train_tiny(tmp_path, "whole", *settings)
    killed = train_until_killed(tmp_path, "killed", "final", *settings)
    assert (killed / "final.tmp").exists() and not (killed / "final").exists()
    assert _resume(tmp_path, "killed", *settings) == 0
    assert not (killed / "final.tmp").exists()
    assert reported_results(killed) == reported_results(whole.run_dir)
    assert logged_lines(killed / "metrics.jsonl") == logged_lines(whole.run_dir / "metrics.jsonl")
    _assert_same_weights(killed, whole)


@pytest.mark.parametrize("save_every", [0, 2])
def test_resuming_a_finished_run_does_nothing(tmp_path, capsys, save_every):
    settings = ["optim.max_steps=4", f"logging.save_every={save_every}"]
    whole = train_tiny(tmp_path, "run", *settings)
    metrics = (whole.run_dir / "metrics.jsonl").read_text()
    saved = (whole.run_dir / "final" / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert _resume(tmp_path, "run", *settings, "logging.log_every=2") == 0
    assert "is finished (4 steps); nothing to do" in capsys.readouterr().out
    assert (whole.run_dir / "metrics.jsonl").read_text() == metrics
    assert (whole.run_dir / "final" / "model.safetensors").stat().st_mtime_ns == saved


def test_resume_applies_and_logs_the_settings_it_may_change(tmp_path, capsys):
    finished = train_tiny(tmp_path, "extended", "optim.max_steps=4", "logging.save_every=2")
    capsys.readouterr()
    assert _resume(tmp_path, "extended", "optim.max_steps=6", "logging.save_every=2", "logging.log_every=2") == 0
    out = capsys.readouterr().out
    assert "changed at step 4: logging.log_every 1 -> 2, optim.max_steps 4 -> 6" in out
    lines = logged_lines(finished.run_dir / "metrics.jsonl")
    changed = [line for line in lines if line["split"] == "config"]
    assert changed == [
        {"step": 4, "split": "config", "changed": {"logging.log_every": [1, 2], "optim.max_steps": [4, 6]}}
    ]
    assert [line["step"] for line in lines if line["split"] == "train"] == [1, 2, 3, 4, 6]
    recorded = yaml.safe_load((finished.run_dir / "final" / "prefopt.yaml").read_text())
    assert recorded["optim"]["max_steps"] == 6 and recorded["logging"]["log_every"] == 2
    # a constant learning rate: four steps extended by two are six steps
    _assert_same_weights(finished, train_tiny(tmp_path, "six", "optim.max_steps=6"))


def test_resume_refuses_settings_that_would_change_the_run(tmp_path, capsys):
    interrupted = train_tiny(tmp_path, "run", "optim.max_steps=4", "logging.save_every=2").run_dir
    shutil.rmtree(interrupted / "final")  # as if killed before the final save
    metrics = (interrupted / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert _resume(tmp_path, "run", "optim.max_steps=4", "optim.lr=0.01", "seed=1") == 2
    err = capsys.readouterr().err
    assert "optim.lr 0.001 -> 0.01" in err and "seed 0 -> 1" in err and "Traceback" not in err
    assert (interrupted / "metrics.jsonl").read_text() == metrics
    assert not (interrupted / "final").exists()


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    run = train_tiny(tmp_path, "kept", "optim.max_steps=5", "logging.save_every=1", "logging.keep_checkpoints=2")
    kept = sorted(path.name for path in (run.run_dir / "checkpoints").iterdir())
    assert kept == [RunDirectory(run.run_dir).checkpoint(step).name for step in (4, 5)]


def test_resume_refuses_to_shrink_a_run_below_its_checkpoint(tmp_path, capsys):
    run = train_tiny(tmp_path, "run", "optim.max_steps=4", "logging.save_every=2").run_dir
    report = (run / "final" / "report.json").read_text()
    capsys.readouterr()
    assert _resume(tmp_path, "run", "optim.max_steps=3", "logging.save_every=2") == 2
    assert "step-0000004: it is at step 4, past the 3 steps configured" in capsys.readouterr().err
    assert (run / "final" / "report.json").read_text() == report
