"""Checkpoints: model, optimizer, scheduler, RNG states, the data position and the logging position, written atomically
and verifiable.

A checkpoint is written by ``accelerate`` into ``checkpoints/step-NNNNNNN.tmp`` and renamed to
``checkpoints/step-NNNNNNN`` only once complete (paths: :class:`~prefopt.run.directory.RunDirectory`), so a crash
mid-write never leaves a checkpoint that looks finished. The data position is the optimizer step: the example
stream is a pure function of the seed and step. ``trainer_state.json`` holds the step and what the loop needs to
log exactly as an uninterrupted run would (the number of ``metrics.jsonl`` lines written so far, the open
training-metrics window); ``config.yaml`` the resolved configuration the checkpoint was trained with;
``run_identity.json`` what the run was started on (:mod:`prefopt.engine.identity`). ``manifest.json``, written
last, gives every other file's size and sha256: a checkpoint damaged later (a truncated file, an emptied one) no
longer matches it, and :func:`newest_intact` passes over it.

A write that fails (a full disk, no permission) removes the ``.tmp`` directory and raises
:class:`~prefopt.storage.StorageError`; the checkpoints written before are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from prefopt.reference.memo import FileHashes
from prefopt.run.directory import (
    CHECKPOINT_CONFIG,
    CHECKPOINT_IDENTITY,
    CHECKPOINT_MANIFEST,
    CHECKPOINT_STATE,
    TEMPORARY,
    RunDirectory,
)
from prefopt.storage import writing


def save_checkpoint(
    accelerator: Accelerator,
    run_dir: RunDirectory,
    step: int,
    config_yaml: str,
    state: dict[str, Any],
    identity: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Save the full training state after ``step`` optimizer steps, with the loop's ``state`` (JSON) and the run's
    ``identity`` next to it; then remove all but the ``keep`` newest checkpoints (None: keep all). Returns the
    checkpoint's directory.

    Raises:
        StorageError: the write failed; nothing of this checkpoint is left, the older ones are kept.
    """
    final = run_dir.checkpoint(step)
    partial = final.with_name(final.name + TEMPORARY)
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    with writing("the checkpoint", final, partial):
        accelerator.save_state(str(partial))
        accelerator.wait_for_everyone()  # every process's random states are in before the manifest
        if accelerator.is_main_process:
            (partial / CHECKPOINT_STATE).write_text(json.dumps({"step": step, **state}))
            (partial / CHECKPOINT_CONFIG).write_text(config_yaml)
            (partial / CHECKPOINT_IDENTITY).write_text(json.dumps(identity, indent=1))
            (partial / CHECKPOINT_MANIFEST).write_text(json.dumps(_manifest(partial), indent=1))
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)
            if keep is not None:
                for old in run_dir.checkpoints()[:-keep]:
                    shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def _manifest(path: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` of every file under ``path`` but the manifest."""
    return {
        file.relative_to(path).as_posix(): {"size": file.stat().st_size, "sha256": _sha256(file)}
        for file in sorted(path.rglob("*"))
        if file.is_file() and file.name != CHECKPOINT_MANIFEST
    }


def _sha256(file: Path) -> str:
    return FileHashes(None).sha256(file)  # no memo: a damaged file must be read, not recognised by its mtime


def damage(path: Path) -> str | None:
    """Why the checkpoint in ``path`` cannot be trusted (a missing or unreadable manifest, a file missing,
    of another size or another sha256 than the manifest gives), or None if it is intact."""
    try:
        expected = json.loads((path / CHECKPOINT_MANIFEST).read_text())
    except FileNotFoundError:
        return f"it has no {CHECKPOINT_MANIFEST} (an older prefopt wrote it, or its writing did not finish)"
    except (OSError, ValueError) as error:
        return f"its {CHECKPOINT_MANIFEST} cannot be read ({error})"
    for name, recorded in expected.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        size = file.stat().st_size
        if size != recorded["size"]:
            return f"{name} has {size} bytes, {recorded['size']} were written"
        if _sha256(file) != recorded["sha256"]:
            return f"{name} no longer has the sha256 it was written with"
    return None


def newest_intact(run_dir: RunDirectory) -> tuple[Path | None, list[str]]:
    """The newest checkpoint that matches its manifest (None if none does), and a line for each newer one passed
    over, saying why."""
    skipped = []
    for path in reversed(run_dir.checkpoints()):
        reason = damage(path)
        if reason is None:
            return path, skipped
        skipped.append(f"skipped the damaged checkpoint {path}: {reason}")
    return None, skipped


def saved_config(path: Path) -> str:
    """The resolved configuration (YAML) the checkpoint in ``path`` was trained with."""
    return (path / CHECKPOINT_CONFIG).read_text()


def saved_identity(path: Path) -> dict[str, Any]:
    """What the run of the checkpoint in ``path`` was started on (:mod:`prefopt.engine.identity`)."""
    return json.loads((path / CHECKPOINT_IDENTITY).read_text())


def load_checkpoint(accelerator: Accelerator, path: Path) -> dict[str, Any]:
    """Restore the state saved in ``path``; returns the loop's state, with the ``step`` it was taken at."""
    accelerator.load_state(str(path))
    return json.loads((path / CHECKPOINT_STATE).read_text())
