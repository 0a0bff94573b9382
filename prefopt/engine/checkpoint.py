"""Checkpoints: model, optimizer, scheduler, RNG states, the data position and the logging position, written atomically.

A checkpoint is written by ``accelerate`` into ``checkpoints/step-NNNNNNN.tmp`` and renamed to
``checkpoints/step-NNNNNNN`` only once complete, so a crash mid-write never leaves a checkpoint that looks
finished. The data position is the optimizer step: the example stream is a pure function of the seed and step.
``trainer_state.json`` holds the step and what the loop needs to log exactly as an uninterrupted run would (the
number of ``metrics.jsonl`` lines written so far, the open training-metrics window); ``config.yaml`` the resolved
configuration the checkpoint was trained with.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
CONFIG_FILE = "config.yaml"
PREFIX = "step-"


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "checkpoints" / f"{PREFIX}{step:07d}"


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: Path,
    step: int,
    config_yaml: str,
    state: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Save the full training state after ``step`` optimizer steps, with the loop's ``state`` (JSON) next to it;
    then remove all but the ``keep`` newest checkpoints (None: keep all). Returns the checkpoint's directory."""
    final = checkpoint_dir(output_dir, step)
    partial = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps({"step": step, **state}))
        (partial / CONFIG_FILE).write_text(config_yaml)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        if keep is not None:
            for old in _complete(output_dir)[:-keep]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def _complete(output_dir: Path) -> list[Path]:
    """The complete checkpoints, oldest first (unfinished ``.tmp`` ones are left out)."""
    root = output_dir / "checkpoints"
    done = [
        p for p in root.glob(f"{PREFIX}*") if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE_FILE).exists()
    ]
    return sorted(done, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    done = _complete(output_dir)
    return done[-1] if done else None


def saved_config(path: Path) -> str:
    """The resolved configuration (YAML) the checkpoint in ``path`` was trained with."""
    return (path / CONFIG_FILE).read_text()


def load_checkpoint(accelerator: Accelerator, path: Path) -> dict[str, Any]:
    """Restore the state saved in ``path``; returns the loop's state, with the ``step`` it was taken at."""
    accelerator.load_state(str(path))
    return json.loads((path / STATE_FILE).read_text())
