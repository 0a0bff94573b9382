"""Resume is exact and honest: killed runs, finished runs, changed settings or data, damaged checkpoints and
checkpoint retention."""

import json
import shutil

import pytest
import torch
import yaml

from prefopt import quickstart
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


def _write_pairs(path, swapped=False):
    rows = quickstart.generate(40, seed=5)
    if swapped:
        rows = [{**row, "chosen": row["rejected"], "rejected": row["chosen"]} for row in rows]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_resume_refuses_data_changed_at_the_same_path(tmp_path, capsys):
    data = tmp_path / "prefs.jsonl"
    _write_pairs(data)
    settings = ["optim.max_steps=4", "logging.save_every=2", f"data.path={data}"]
    run = train_tiny(tmp_path, "run", *settings).run_dir
    shutil.rmtree(run / "final")  # as if killed before the final save
    _write_pairs(data, swapped=True)
    caches = sorted((tmp_path / "cache").iterdir())
    capsys.readouterr()
    assert _resume(tmp_path, "run", *settings) == 2
    err = capsys.readouterr().err
    assert "the run began on other inputs" in err and "train data (32 examples" in err and "Traceback" not in err
    assert "tokenizer" not in err and "model (" not in err and "loss (" not in err  # only what changed is named
    assert sorted((tmp_path / "cache").iterdir()) == caches  # refused before the reference was built
    assert not (run / "final").exists()
    assert _resume(tmp_path, "run", *settings, "--allow-changed-data") == 0
    assert "on changed inputs (--allow-changed-data): held-out data" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("damaged", "how"),
    [("model.safetensors", "truncated"), ("optimizer.bin", "truncated"), ("trainer_state.json", "emptied")],
)
def test_a_damaged_newest_checkpoint_is_skipped_for_the_newest_intact_one(tmp_path, capsys, damaged, how):
    settings = ["optim.max_steps=4", "logging.save_every=2"]
    whole = train_tiny(tmp_path, "whole", *settings)
    run = train_tiny(tmp_path, "run", *settings).run_dir
    shutil.rmtree(run / "final")
    newest = RunDirectory(run).checkpoint(4) / damaged
    with newest.open("r+b") as handle:
        handle.truncate(0 if how == "emptied" else newest.stat().st_size // 2)
    capsys.readouterr()
    assert _resume(tmp_path, "run", *settings) == 0
    out = capsys.readouterr().out
    assert f"skipped the damaged checkpoint {newest.parent}: {damaged} has" in out
    assert f"resumed from {RunDirectory(run).checkpoint(2)} at step 2" in out
    assert logged_lines(run / "metrics.jsonl") == logged_lines(whole.run_dir / "metrics.jsonl")
    _assert_same_weights(run, whole)


def test_with_no_intact_checkpoint_a_resume_starts_from_step_0(tmp_path, capsys):
    settings = ["optim.max_steps=2", "logging.save_every=2"]
    whole = train_tiny(tmp_path, "whole", *settings)
    run = train_tiny(tmp_path, "run", *settings).run_dir
    shutil.rmtree(run / "final")
    (RunDirectory(run).checkpoint(2) / "trainer_state.json").write_text("")
    capsys.readouterr()
    assert _resume(tmp_path, "run", *settings) == 0
    out = capsys.readouterr().out
    assert "skipped the damaged checkpoint" in out and "no intact checkpoint in" in out
    _assert_same_weights(run, whole)
