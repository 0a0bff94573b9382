"""The layout of a run directory, in one place.

::

    RUN/
      metrics.jsonl              one JSON object per logged step and split (prefopt.engine.metrics_log)
      tensorboard/               with logging.tensorboard
      plots/                     PNG curves (prefopt plot, logging.plots)
      .lock                      the pid and host of the process that owns the run (prefopt.run.lock)
      checkpoints/step-NNNNNNN/  full training state; trainer_state.json, config.yaml, run_identity.json and
                                 manifest.json (every file's size and sha256, written last) beside accelerate's files
      final/                     the trained model, its tokenizer, prefopt.yaml (resolved configuration) and
                                 report.json (held-out metrics, model origin, costs)

Everything that is written is written under a temporary name and renamed when complete, so a directory that
looks finished is. Readers (resume, ``prefopt eval``, ``prefopt plot``) find files through this module only.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefopt.storage import writing

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "prefopt.yaml"  # in final/: the resolved configuration the model was trained with
REPORT_FILE = "report.json"  # in final/
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_STATE = "trainer_state.json"  # in a checkpoint: step and logging position
CHECKPOINT_CONFIG = "config.yaml"  # in a checkpoint: the resolved configuration it was trained with
CHECKPOINT_IDENTITY = "run_identity.json"  # in a checkpoint: the data, tokenizer, model and loss the run began on
CHECKPOINT_MANIFEST = "manifest.json"  # in a checkpoint, written last: size and sha256 of every other file
TEMPORARY = ".tmp"


@dataclass(frozen=True)
class RunDirectory:
    """The files of the run in ``root``."""

    root: Path

    @property
    def metrics_file(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / "tensorboard"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final_dir(self) -> Path:
        return self.root / "final"

    def checkpoint(self, step: int) -> Path:
        """``checkpoints/step-NNNNNNN``: the checkpoint taken after ``step`` optimizer steps."""
        return self.checkpoints_dir / f"{CHECKPOINT_PREFIX}{step:07d}"

    def checkpoints(self) -> list[Path]:
        """The checkpoints written to the end, oldest first (unfinished ``.tmp`` ones are left out; whether one
        was damaged since, :func:`prefopt.engine.checkpoint.damage` tells)."""
        done = [
            path
            for path in self.checkpoints_dir.glob(f"{CHECKPOINT_PREFIX}*")
            if path.is_dir() and not path.name.endswith(TEMPORARY)
        ]
        return sorted(done, key=lambda path: int(path.name[len(CHECKPOINT_PREFIX) :]))

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint with the highest step, or None."""
        done = self.checkpoints()
        return done[-1] if done else None

    def report(self) -> dict[str, Any] | None:
        """``final/report.json`` of a finished run, or None."""
        path = self.final_dir / REPORT_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def final_config(self) -> str | None:
        """The resolved configuration (YAML) ``final/`` was trained with, or None."""
        path = self.final_dir / CONFIG_FILE
        return path.read_text() if path.is_file() else None

    def write_final(self, save_model: Callable[[Path], None], config_yaml: str, report: dict[str, Any]) -> Path:
        """Write ``final/`` whole or not at all: ``save_model(directory)`` (model and tokenizer), the
        configuration and the report go to ``final.tmp``, which then replaces ``final/``.

        Raises:
            StorageError: the write failed (a full disk, no permission); ``final.tmp`` is removed.
        """
        target = self.final_dir
        partial = target.with_name(target.name + TEMPORARY)
        with writing("the final model", target, partial):
            remove_tree(partial)
            save_model(partial)
            (partial / CONFIG_FILE).write_text(config_yaml)
            (partial / REPORT_FILE).write_text(json.dumps(report, indent=2))
            remove_tree(target)
            os.replace(partial, target)
        return target


def recorded_config_file(model_path: str | None) -> Path | None:
    """``<model_path>/prefopt.yaml`` when ``model_path`` is a directory a prefopt run saved, else None."""
    if model_path is None:
        return None
    candidate = Path(model_path).expanduser() / CONFIG_FILE
    return candidate if candidate.is_file() else None


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
