"""Checkpoints: model, optimizer, scheduler, RNG states, the data position and the logging position, written atomically.

A checkpoint is written by ``accelerate`` into ``checkpoints/step-NNNNNNN.tmp`` and renamed to
``checkpoints/step-NNNNNNN`` only once complete (paths: :class:`~prefopt.run.directory.RunDirectory`), so a crash
mid-write never leaves a checkpoint that looks finished. The data position is the optimizer step: the example
stream is a pure function of the seed and step. ``trainer_state.json`` holds the step and what the loop needs to
log exactly as an uninterrupted run would (the number of ``metrics.jsonl`` lines written so far, the open
training-metrics window); ``config.yaml`` the resolved configuration the checkpoint was trained with.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from prefopt.run.directory import CHECKPOINT_CONFIG, CHECKPOINT_STATE, TEMPORARY, RunDirectory


def save_checkpoint(
    accelerator: Accelerator,
    run_dir: RunDirectory,
    step: int,
    config_yaml: str,
    state: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Save the full training state after ``step`` optimizer steps, with the loop's ``state`` (JSON) next to it;
    then remove all but the ``keep`` newest checkpoints (None: keep all). Returns the checkpoint's directory."""
    final = run_dir.checkpoint(step)
    partial = final.with_name(final.name + TEMPORARY)
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()  # every process writes its own random state into ``partial``
    if accelerator.is_main_process:
        (partial / CHECKPOINT_STATE).write_text(json.dumps({"step": step, **state}))
        (partial / CHECKPOINT_CONFIG).write_text(config_yaml)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        if keep is not None:
            for old in run_dir.checkpoints()[:-keep]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def saved_config(path: Path) -> str:
    """The resolved configuration (YAML) the checkpoint in ``path`` was trained with."""
    return (path / CHECKPOINT_CONFIG).read_text()


def load_checkpoint(accelerator: Accelerator, path: Path) -> dict[str, Any]:
    """Restore the state saved in ``path``; returns the loop's state, with the ``step`` it was taken at."""
    accelerator.load_state(str(path))
    return json.loads((path / CHECKPOINT_STATE).read_text())
