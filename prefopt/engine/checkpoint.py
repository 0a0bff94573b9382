"""Checkpoints: model, optimizer, scheduler, RNG states and the data position, written atomically.

A checkpoint is written by ``accelerate`` into ``checkpoints/step-NNNNNNN.tmp`` and renamed to
``checkpoints/step-NNNNNNN`` only once complete, so a crash mid-write never leaves a checkpoint that looks
finished. The data position is the optimizer step: the example stream is a pure function of the seed and step.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "checkpoints" / f"{PREFIX}{step:07d}"


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, config_yaml: str) -> Path:
    """Save the full training state after ``step`` optimizer steps; returns the checkpoint's directory."""
    final = checkpoint_dir(output_dir, step)
    partial = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps({"step": step}))
        (partial / "config.yaml").write_text(config_yaml)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    accelerator.wait_for_everyone()
    return final


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None (unfinished ``.tmp`` ones are ignored)."""
    root = output_dir / "checkpoints"
    done = [
        p for p in root.glob(f"{PREFIX}*") if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE_FILE).exists()
    ]
    return max(done, key=lambda p: int(p.name[len(PREFIX) :]), default=None)


def load_checkpoint(accelerator: Accelerator, path: Path) -> int:
    """Restore the state saved in ``path``; returns the step it was taken at."""
    accelerator.load_state(str(path))
    return int(json.loads((path / STATE_FILE).read_text())["step"])
