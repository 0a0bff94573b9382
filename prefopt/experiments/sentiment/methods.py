"""Train one method from pi_ref on the scored samples, with a frontier point at each of the size's evaluation steps.

Each run is a :func:`prefopt.api.train` on one seed's scored file and the one pi_ref, so the reference cache built
by the first run of a seed serves every later run of that seed (its fingerprint is pi_ref and the data). The
points come from fresh samples of the policy after the steps they name (:mod:`frontier`), taken by a callback of
the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefopt import api
from prefopt.config import load_config
from prefopt.experiments.sentiment.frontier import FrontierPoint
from prefopt.experiments.sentiment.sizes import ExperimentSize, Method


@dataclass(frozen=True)
class Checkpoint:
    """A run measured after ``step`` optimizer steps; ``loss`` is that step's training loss (None if unknown)."""

    step: int
    point: FrontierPoint
    loss: float | None


def run_directory(paths: dict[str, Path], method: Method, seed: int) -> Path:
    """Where one run of one seed writes its log."""
    return paths["runs"] / f"seed-{seed}" / method.name.replace(" ", "_")


def measure(method: Method, step: int, policy, evaluation, loss: float | None, log) -> Checkpoint:
    """Evaluate ``policy`` after ``step`` steps and log the point."""
    point: FrontierPoint = evaluation(policy)
    shown = "" if loss is None else f"  loss {loss:.4f}"
    log(f"  {method.name:<22} step {step:>3}: reward {point.reward:+.3f}  KL {point.kl:7.3f}{shown}")
    return Checkpoint(step, point, loss)


def training_overrides(
    loss: dict, size: ExperimentSize, *, lr: float, steps: int, seed: int, sft: Path, cache: Path
) -> list[str]:
    """``key=value`` settings every training run of the experiments shares: pi_ref (``sft``) as the model and the
    reference, ``loss``, AdamW at ``lr`` for ``steps`` steps of ``size.batch_size`` prompts, the reference cache in
    ``cache``, and ``seed`` as the run's (its shuffling of the data)."""
    spec = ", ".join(f"{key}: {value}" for key, value in loss.items())
    return [
        f"seed={seed}",
        f"model.path={sft}",
        "data.on_error=skip",  # rows whose samples all tie or repeat carry no preference; they are counted
        "data.eval_fraction=0",
        f"data.max_length={size.max_new_tokens + 16}",
        "data.max_prompt_length=16",
        f"loss={{{spec}}}",
        "optim.optimizer=adamw",
        f"optim.lr={lr}",
        "optim.warmup_steps=0",
        f"optim.batch_size={size.batch_size}",
        f"optim.micro_batch_size={size.batch_size}",
        f"optim.max_steps={steps}",
        "logging.progress=false",
        f"reference.cache_dir={cache}",
    ]


def run_overrides(method: Method, size: ExperimentSize, paths: dict[str, Path], seed: int) -> list[str]:
    """``key=value`` settings of one method's run: the shared ones (:func:`training_overrides`) at the method's
    learning rate, with the seed's scored samples as the data and the run's own directory."""
    return [
        *training_overrides(
            method.loss,
            size,
            lr=size.lr * method.lr_scale,
            steps=size.steps,
            seed=seed,
            sft=paths["sft"],
            cache=paths["cache"],
        ),
        f"data.path={paths['scored']}",
        "data.format=scored",
        f"logging.output_dir={run_directory(paths, method, seed)}",
    ]


def train_method(
    method: Method, size: ExperimentSize, paths: dict[str, Path], evaluation, seed: int, log
) -> list[Checkpoint]:
    """Train ``method`` for ``size.steps`` steps; returns a checkpoint at each of ``size.eval_steps`` (pi_ref, the
    policy before step 1, is measured once by the caller).

    ``evaluation(policy) -> FrontierPoint`` measures a policy.
    """
    config = load_config(None, run_overrides(method, size, paths, seed))
    checkpoints = []

    def on_step(end: api.StepEnd) -> None:
        if end.step in size.eval_steps:
            checkpoints.append(measure(method, end.step, end.policy, evaluation, end.metrics["loss"], log))

    api.train(config, on_step=on_step)
    return checkpoints
