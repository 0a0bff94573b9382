"""The Python API: what the command line, notebooks and the experiments call.

::

    import prefopt

    records = [{"prompt": "2 + 2 =", "chosen": " 4", "rejected": " 5"}, ...]
    for beta in (0.05, 0.1, 0.5):
        config = {"model": {"path": "runs/sft/final"}, "loss": {"name": "dpo", "beta": beta},
                  "logging": {"output_dir": f"runs/beta-{beta}"}}
        result = prefopt.train(config, train=records, eval=held_out)
        print(beta, result.final_metrics["accuracy"], result.model_path)

A configuration is a :class:`~prefopt.config.RunConfig`, a nested mapping of its settings or a YAML file's path.
Records are dicts in any format of docs/data-formats.md or :class:`~prefopt.types.RankedExample`; without them
the configured ``data`` is read, as ``prefopt train`` and ``prefopt eval`` do. Records in memory and records read
from a file are one and the same to the reference cache: it is keyed by content, so the three runs above build
the reference log-probs once and hit the cache twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate import PartialState

from prefopt.config import RunConfig, as_config
from prefopt.engine.distributed import make_accelerator
from prefopt.engine.evaluate import evaluate_held_out
from prefopt.engine.loop import OnStep, RunResult, StepEnd, Trainer, TrainingDiverged
from prefopt.engine.quiet import transformers_progress
from prefopt.engine.resume import check_resume
from prefopt.losses import build_loss
from prefopt.reference import ReferenceCache
from prefopt.reference.cache import check_cache_directory
from prefopt.run.builder import build_run
from prefopt.run.data import Records
from prefopt.run.directory import RunDirectory
from prefopt.run.evaluation import EvaluationSetup, evaluation_reference, require_reference
from prefopt.run.lock import owning_run
from prefopt.run.overlap import overlap_note
from prefopt.run.summary import settings_block
from prefopt.storage import StorageError, check_writable

Config = RunConfig | Mapping[str, Any] | str | Path

__all__ = ["RunResult", "StepEnd", "StorageError", "TrainingDiverged", "build_caches", "evaluate", "train"]


def train(
    config: Config,
    *,
    train: Records | None = None,
    eval: Records | None = None,
    resume: bool = False,
    allow_changed_data: bool = False,
    on_step: OnStep | None = None,
) -> RunResult:
    """Train the configured policy on ``train`` (else ``config.data``), measuring on ``eval`` (else the configured
    held-out data) before, during and after; save it in ``<logging.output_dir>/final``.

    With ``resume``, continue exactly from the newest intact checkpoint of ``logging.output_dir``, or, when
    ``final/`` already holds the configured steps, return the finished run without loading or training anything.
    A resume on other data, tokenizer, model or loss than the run began on (compared by content) is refused unless
    ``allow_changed_data``. ``on_step(StepEnd)`` is called after every optimizer step.

    The output directory (and the reference cache directory) must be writable, which is checked before anything
    is loaded, and no other process may be training in the output directory: the run holds ``RUN/.lock`` until it
    ends.

    Raises:
        ConfigError: an invalid configuration (before anything is loaded), a resume the checkpoint refuses, or an
            output directory another run owns (``RunDirectoryLocked``).
        PreferenceDataError: a bad record (``data.on_error=raise``), naming its position.
        TrainingDiverged: a non-finite loss, gradient or weight; the last good checkpoint is kept.
        StorageError: a directory that cannot be written, or a write that failed (a full disk, no permission);
            its temporary files are removed and the last good checkpoint is kept.
    """
    config = as_config(config)
    run_dir = RunDirectory(Path(config.logging.output_dir))
    point = check_resume(config, allow_changed_data=allow_changed_data) if resume else None
    if point is not None and point.finished is not None:
        report = point.finished
        PartialState().print(f"the run in {run_dir.root} is finished ({report['steps']} steps); nothing to do")
        return RunResult(run_dir.root, run_dir.final_dir, report["steps"], report["initial_eval"], report["final_eval"])
    check_writable(run_dir.root, "logging.output_dir")
    if config.reference.cache:
        check_cache_directory(config.reference.cache_dir)
    accelerator = make_accelerator(config.optim.mixed_precision)
    with owning_run(run_dir.root, accelerator), transformers_progress(config.logging.progress):
        with Trainer.from_config(config, train=train, eval=eval, resume=point, accelerator=accelerator) as trainer:
            return trainer.run(on_step)


def evaluate(config: Config, *, data: Records | None = None) -> dict[str, float]:
    """Held-out metrics of ``model.path`` on the records ``data`` (else every example of ``data.eval_path``, or
    of ``data.path``): ``accuracy``, ``margin``, ``loss``, ``kendall_tau`` for K > 2, rewards and log-probs per
    rank, with the configured loss's implicit rewards.

    A reference-based loss compares with ``model.reference_path``, or, for a ``final/`` directory of a prefopt
    run, with the reference that run was trained against (recorded in its ``prefopt.yaml``).

    Raises:
        ConfigError: an invalid configuration, or a reference-based loss with no reference known.
    """
    metrics, _ = evaluate_setup(evaluation_reference(as_config(config)), data=data)
    return metrics


def evaluate_setup(
    setup: EvaluationSetup, *, data: Records | None = None, trained_note: bool = False
) -> tuple[dict[str, float], str | None]:
    """:func:`evaluate` for an :class:`~prefopt.run.evaluation.EvaluationSetup` (``prefopt eval`` makes one from
    its command line); prints the settings block. With ``trained_note``, also how many of the evaluated examples
    the run that trained ``model.path`` trained on (``trained_examples`` in the metrics, and the line saying so:
    :func:`~prefopt.run.overlap.overlap_note`); else the note is None."""
    config = setup.config
    accelerator = make_accelerator()
    for line in setup.lines:
        accelerator.print(line)
    loss = build_loss(config.loss)  # a reference-based loss without a known reference fails before loading
    reference_config = require_reference(setup, loss.name) if loss.declarations.needs_reference else None
    parts = build_run(config, accelerator, purpose="evaluate", eval=data, reference_config=reference_config)
    accelerator.print(
        settings_block(config, parts.splits, loss=parts.loss, reference=parts.reference, reference_config=reference_config)
    )
    try:
        metrics, note = evaluate_held_out(parts, parts.policy), None
        if trained_note:
            trained, note = overlap_note(config, parts.splits.eval, parts.tokenizer)
            if trained is not None:
                metrics["trained_examples"] = trained
        return metrics, note
    finally:
        accelerator.end_training()




def build_caches(
    config: Config, *, train: Records | None = None, eval: Records | None = None
) -> list[ReferenceCache]:
    """Build (or find) the reference caches a training run of ``config`` on these records would use, without
    loading the policy; the caches, training split first."""
    config = as_config(config)
    accelerator = make_accelerator()
    try:
        parts = build_run(config, accelerator, purpose="cache", train=train, eval=eval)
        accelerator.print(settings_block(config, parts.splits, reference=parts.reference))
        return parts.reference.caches
    finally:
        accelerator.end_training()
