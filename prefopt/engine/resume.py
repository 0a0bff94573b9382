"""What ``--resume`` may change, where it continues, and when a run has nothing left to do.

A resumed run continues the configuration its checkpoint was trained with (the checkpoint's ``config.yaml``).
Settings that decide only what is logged and saved, and how long training goes on, may change at the step
boundary of the checkpoint: ``logging.*``, ``optim.max_steps`` and ``optim.epochs``. Any other difference
(model, data, tokenisation, loss, learning rate, batch, seed, ...) would make the resumed steps those of another
run than the one recorded, so it is refused, naming every such key. Settings are compared for their effect: a
loss by its resolved options (``dpo`` and ``{name: dpo, beta: 0.1}`` are one loss), ``optim.epochs`` not while
both runs set ``optim.max_steps``. The inputs behind the settings are compared too, by content (the run's identity,
:mod:`prefopt.engine.identity`): a data file changed at the same path is refused unless ``allow_changed_data``.
A damaged checkpoint (one that no longer matches its manifest) is passed over for the newest intact one; with
none intact the run starts from step 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prefopt.config import ConfigError, RunConfig, dump_config
from prefopt.engine import checkpoint
from prefopt.engine.identity import identity_changes
from prefopt.losses import build_loss
from prefopt.run.directory import RunDirectory

CHANGEABLE = ("logging.", "optim.max_steps", "optim.epochs")
LENGTH = ("optim.max_steps", "optim.epochs")
# where the run lives, not how it trains: a run directory copied or moved elsewhere resumes as the same run
LOCATION = "logging.output_dir"

Changes = dict[str, tuple[Any, Any]]


class ResumeRefused(ConfigError):
    """A ``--resume`` whose configuration differs from the checkpoint's in a setting a resumed run cannot change."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of the nested sections (lists stay one value)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _settings(config_yaml: str) -> dict[str, Any]:
    tree = yaml.safe_load(config_yaml)
    tree["loss"] = build_loss(tree["loss"]).settings()  # name, pairs and every option, defaults included
    return _flatten(tree)


def config_changes(saved_yaml: str, config: RunConfig, source: Path) -> Changes:
    """Each setting of ``config`` that differs from the saved configuration, as (saved value, new value).

    Raises:
        ResumeRefused: some differing setting is not one a resumed run may change; the message names them all.
    """
    saved, new = _settings(saved_yaml), _settings(dump_config(config))
    if saved.get("optim.max_steps") is not None and new.get("optim.max_steps") is not None:
        saved.pop("optim.epochs", None)  # no effect while max_steps is set
        new.pop("optim.epochs", None)
    changes = {
        key: (saved.get(key), new.get(key))
        for key in sorted(saved.keys() | new.keys())
        if key != LOCATION and saved.get(key) != new.get(key)
    }
    refused = [key for key in changes if not key.startswith(CHANGEABLE)]
    if refused:
        listed = ", ".join(f"{key} {changes[key][0]!r} -> {changes[key][1]!r}" for key in refused)
        raise ResumeRefused(
            f"cannot resume from {source}: it was trained with other settings (then -> now): {listed}. The "
            f"remaining steps must train as the first ones did: resume with the values it was trained with, or start "
            f"a new run in another logging.output_dir (on resume only logging.*, optim.max_steps and optim.epochs "
            f"may change)"
        )
    return changes


def describe_changes(step: int, changes: Changes) -> str:
    """``changed at step N: key old -> new, ...``"""
    return f"changed at step {step}: " + ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())


@dataclass(frozen=True)
class ResumePoint:
    """Where ``--resume`` continues a run, decided before anything is loaded.

    Attributes:
        finished: the report of a run whose ``final/`` already holds the configured steps (nothing to do), or None.
        checkpoint: the newest intact checkpoint; None starts from step 0.
        skipped: a line for each newer checkpoint passed over as damaged, saying why.
        allow_changed_data: continue even if the data, tokenizer, model or loss differ from those the run began on.
    """

    finished: dict[str, Any] | None = None
    checkpoint: Path | None = None
    skipped: list[str] = field(default_factory=list)
    allow_changed_data: bool = False


def check_resume(config: RunConfig, *, allow_changed_data: bool = False) -> ResumePoint:
    """Before anything is loaded: the finished run in ``logging.output_dir`` when its ``final/`` was written for
    the training length ``config`` asks for, else the newest checkpoint that matches its manifest.

    Raises:
        ResumeRefused: the configuration differs from that of the finished run, or of the checkpoint, in a setting
            a resumed run cannot change.
    """
    run_dir = RunDirectory(Path(config.logging.output_dir))
    report = run_dir.report()
    if report is not None:
        changes = config_changes(run_dir.final_config(), config, run_dir.final_dir)
        if not any(key in changes for key in LENGTH):
            return ResumePoint(finished=report)
    latest, skipped = checkpoint.newest_intact(run_dir)
    if latest is not None:
        config_changes(checkpoint.saved_config(latest), config, latest)
    return ResumePoint(checkpoint=latest, skipped=skipped, allow_changed_data=allow_changed_data)


def check_identity(point: ResumePoint, identity: dict[str, Any]) -> str | None:
    """Compare the identity of the run about to continue with the one its checkpoint recorded; None if they
    agree, else (with ``allow_changed_data``) a line saying what changed.

    Raises:
        ResumeRefused: they differ and ``allow_changed_data`` is not set; the message names each changed part.
    """
    changes = identity_changes(checkpoint.saved_identity(point.checkpoint), identity)
    if not changes:
        return None
    listed = "; ".join(changes)
    if not point.allow_changed_data:
        raise ResumeRefused(
            f"cannot resume from {point.checkpoint}: the run began on other inputs than it would continue on "
            f"(then -> now): {listed}. Restore the inputs it was trained on, start a new run in another "
            f"logging.output_dir, or continue on the new inputs anyway with --resume --allow-changed-data "
            f"(prefopt.train(..., resume=True, allow_changed_data=True))"
        )
    return f"resuming from {point.checkpoint} on changed inputs (--allow-changed-data): {listed}"
