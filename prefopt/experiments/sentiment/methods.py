"""Train one method from pi_ref on the scored samples, with a frontier point every ``eval_every`` steps.

Each run is a :func:`prefopt.api.train` on the same scored file and the same pi_ref, so the reference cache built by
the first run that needs one serves every later run (its fingerprint is the same). The points come from fresh
samples of the policy after the steps they name (:mod:`frontier`), taken by a callback of the run.
"""

from __future__ import annotations

from pathlib import Path

from prefopt import api
from prefopt.config import load_config
from prefopt.experiments.sentiment.frontier import FrontierPoint, evaluate_policy
from prefopt.experiments.sentiment.sizes import ExperimentSize, Method


def run_overrides(method: Method, size: ExperimentSize, paths: dict[str, Path], seed: int) -> list[str]:
    """``key=value`` settings of one method's run: pi_ref as the model, the scored samples as the data."""
    loss = ", ".join(f"{key}: {value}" for key, value in method.loss.items())
    return [
        f"seed={seed}",
        f"model.path={paths['sft']}",
        f"data.path={paths['scored']}",
        "data.format=scored",
        "data.on_error=skip",  # rows whose samples all tie or repeat carry no preference; they are counted
        "data.eval_fraction=0",
        f"data.max_length={size.max_new_tokens + 16}",
        "data.max_prompt_length=16",
        f"loss={{{loss}}}",
        "optim.optimizer=adamw",
        f"optim.lr={size.lr}",
        "optim.warmup_steps=0",
        f"optim.batch_size={size.batch_size}",
        f"optim.micro_batch_size={size.batch_size}",
        f"optim.max_steps={size.steps}",
        "logging.progress=false",
        f"logging.output_dir={paths['runs'] / method.name.replace(' ', '_')}",
        f"reference.cache_dir={paths['cache']}",
    ]


def train_method(
    method: Method, size: ExperimentSize, paths: dict[str, Path], evaluation, seed: int, log
) -> list[dict]:
    """Train ``method`` for ``size.steps`` steps; returns ``{"step", "reward", "kl", "loss"}`` at every
    ``size.eval_every`` steps and at the end (step 0 is pi_ref itself, measured once by the caller).

    ``evaluation(policy) -> FrontierPoint`` measures a policy.
    """
    config = load_config(None, run_overrides(method, size, paths, seed))
    points = []

    def measure(end: api.StepEnd) -> None:
        if end.step % size.eval_every and end.step != size.steps:
            return
        point: FrontierPoint = evaluation(end.policy)
        loss = end.metrics["loss"]
        points.append({"step": end.step, "reward": point.reward, "kl": point.kl, "loss": loss})
        log(f"  {method.name:<16} step {end.step:>3}: reward {point.reward:+.3f}  KL {point.kl:7.3f}  loss {loss:.4f}")

    api.train(config, on_step=measure)
    return points


def policy_evaluation(reference, tokenizer, prompts, scorer, settings):
    """``evaluation(policy)`` for :func:`train_method`: fresh samples of the held-out prompts against pi_ref."""
    return lambda policy: evaluate_policy(policy, reference, tokenizer, prompts, scorer, settings)
