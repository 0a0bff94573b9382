"""A run directory has one owner, and a directory or disk that cannot take a write ends a run with one message."""

import errno
import os
import socket
import tempfile

import pytest
from accelerate import Accelerator
from transformers import PreTrainedModel
from transformers.utils import logging as transformers_logging

from prefopt.cli import main
from prefopt.reference import cache as reference_cache
from prefopt.run.directory import RunDirectory
from tests.integration.runs import kill, start_blocked, tiny_overrides, train_tiny

LOCK = ".lock"


def _train(tmp_path, name, *overrides, resume=False):
    return main(["train", *tiny_overrides(tmp_path, name), *overrides, *(["--resume"] if resume else [])])


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path, capsys):
    first = start_blocked(tmp_path, "run", "step:2", "optim.max_steps=4")
    try:
        metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
        assert _train(tmp_path, "run", "optim.max_steps=4") == 2
        err = capsys.readouterr().err
        assert f"is in use by another run: pid {first.pid} on host {socket.gethostname()}" in err
        assert (tmp_path / "run" / "metrics.jsonl").read_text() == metrics  # not a line written twice
    finally:
        kill(first)
    # its owner is gone: the lock is stale, taken over with a note, and released when the run ends
    assert _train(tmp_path, "run", "optim.max_steps=4") == 0
    assert f"took over the stale lock {tmp_path / 'run' / LOCK}: its owner, pid {first.pid}" in capsys.readouterr().out
    assert not (tmp_path / "run" / LOCK).exists()


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    assert _train(tmp_path, "run", "optim.lr=1e9", "optim.max_steps=3") == 3  # diverges
    assert not (tmp_path / "run" / LOCK).exists()


def test_an_output_directory_that_cannot_be_written_stops_before_any_work(tmp_path, capsys, monkeypatch):
    # chmod does not stop root, who may run the suite, so the operating system's refusal is simulated
    locked = tmp_path / "run"
    mkstemp = tempfile.mkstemp

    def denied(*args, dir=None, **kwargs):
        if str(dir).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    assert _train(tmp_path, "run") == 4
    err = capsys.readouterr().err
    assert f"cannot write in logging.output_dir {locked}: Permission denied (" in err and " free of " in err
    assert "Traceback" not in err
    assert not (tmp_path / "cache").exists()  # no data loaded, no reference cache built


def test_a_full_disk_while_writing_a_checkpoint_keeps_the_last_good_one(tmp_path, capsys, monkeypatch):
    settings = ["optim.max_steps=4", "logging.save_every=2"]
    save_state = Accelerator.save_state

    def full_at_step_4(self, output_dir=None, **kwargs):
        save_state(self, output_dir, **kwargs)  # the files are written, then the disk fills
        if "step-0000004" in str(output_dir):
            _no_space()

    monkeypatch.setattr(Accelerator, "save_state", full_at_step_4)
    assert _train(tmp_path, "run", *settings) == 4
    err = capsys.readouterr().err
    run = RunDirectory(tmp_path / "run")
    assert f"cannot write the checkpoint {run.checkpoint(4)}: No space left on device (" in err
    assert f"the last checkpoint, {run.checkpoint(2)}, is kept" in err and "Traceback" not in err
    assert [path.name for path in run.checkpoints_dir.iterdir()] == [run.checkpoint(2).name]  # no .tmp left
    monkeypatch.undo()  # space freed: the run resumes from the kept checkpoint
    assert _train(tmp_path, "run", *settings, resume=True) == 0
    assert f"resumed from {run.checkpoint(2)} at step 2" in capsys.readouterr().out


def test_a_full_disk_while_writing_the_final_model_leaves_no_temporary_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", _no_space)
    assert _train(tmp_path, "run") == 4
    err = capsys.readouterr().err
    assert f"cannot write the final model {tmp_path / 'run' / 'final'}: No space left on device" in err
    assert not (tmp_path / "run" / "final.tmp").exists() and not (tmp_path / "run" / "final").exists()


def test_a_full_disk_while_writing_the_reference_cache_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(reference_cache, "save_file", lambda tensors, path, metadata: _partial_then_full(path))
    assert _train(tmp_path, "run") == 4
    err = capsys.readouterr().err
    assert f"cannot write the reference cache {tmp_path / 'cache'}/" in err and "No space left on device" in err
    assert os.listdir(tmp_path / "cache") == []


def _partial_then_full(path):
    with open(path, "wb") as handle:
        handle.write(b"part of a file")
    _no_space()


@pytest.mark.parametrize("enabled", [True, False])
def test_progress_false_silences_transformers_bars_and_the_tied_weight_warning(tmp_path, capfd, caplog, enabled):
    (transformers_logging.enable_progress_bar if enabled else transformers_logging.disable_progress_bar)()
    first = train_tiny(tmp_path, "first", "logging.save_every=1")
    out, err = capfd.readouterr()
    # a second run from the first's saved model loads weights from disk
    train_tiny(tmp_path, "second", f"model.path={first.model_path}")
    later_out, later_err = capfd.readouterr()
    printed = out + err + later_out + later_err
    assert "Writing model shards" not in printed and "Loading weights" not in printed
    assert "Removed shared tensor" not in printed + caplog.text  # pytest's log capture receives warnings
    assert transformers_logging.is_progress_bar_enabled() is enabled  # as it was before the run
