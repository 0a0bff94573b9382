"""What ``--resume`` may change, and when a run has nothing left to do.

A resumed run continues the configuration its checkpoint was trained with (the checkpoint's ``config.yaml``).
Settings that decide only what is logged and saved, and how long training goes on, may change at the step
boundary of the checkpoint: ``logging.*``, ``optim.max_steps`` and ``optim.epochs``. Any other difference
(model, data, tokenisation, loss, learning rate, batch, seed, ...) would make the resumed steps those of another
run than the one recorded, so it is refused, naming every such key. Settings are compared for their effect: a
loss by its resolved options (``dpo`` and ``{name: dpo, beta: 0.1}`` are one loss), ``optim.epochs`` not while
both runs set ``optim.max_steps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from prefopt.config import ConfigError, RunConfig, dump_config
from prefopt.engine import checkpoint
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


def check_resume(config: RunConfig) -> dict[str, Any] | None:
    """Before anything is loaded: the report of the run in ``logging.output_dir`` when its ``final/`` was written
    for the training length ``config`` asks for; None when there is training or a final save left to do.

    Raises:
        ResumeRefused: the configuration differs from that of the latest checkpoint, or of the finished run, in a
            setting a resumed run cannot change.
    """
    run_dir = RunDirectory(Path(config.logging.output_dir))
    latest = run_dir.latest_checkpoint()
    if latest is not None:
        config_changes(checkpoint.saved_config(latest), config, latest)
    report = run_dir.report()
    if report is None:
        return None
    changes = config_changes(run_dir.final_config(), config, run_dir.final_dir)
    if any(key in changes for key in LENGTH):
        return None
    return report
