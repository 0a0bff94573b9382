"""The on-policy RL baseline: TRL's ``RLOOTrainer`` (REINFORCE leave-one-out; Ahmadian et al. 2024) from pi_ref,
with the experiment's scorer as its reward.

The comparison is kept even with the offline methods: the same pi_ref (loaded from ``sft/``), the same training
prefixes, the same sample budget (each step samples K completions of each of ``batch_size`` prefixes, as many as one
offline step trains on), the same learning rate and optimizer (AdamW, constant rate, no warm-up, the same gradient
clipping), and the same evaluation (the experiment's own, called by a ``TrainerCallback`` at the same steps). The
KL coefficient ``beta`` of ``RLOOConfig`` is swept to trace a frontier. TRL is optional (``prefopt[experiments]``)
and imported only when an RLOO run is chosen; generation runs through ``model.generate`` (no vLLM).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch

from prefopt.experiments.sentiment.methods import Checkpoint, measure, run_directory
from prefopt.experiments.sentiment.sizes import ExperimentSize, Method

TRL_VERSION = "1.16.0"  # the version this integration was written against (RLOOConfig's fields, the callback)
MAX_GRAD_NORM = 10.0  # prefopt's default optim.max_grad_norm, which the offline runs use


class MissingDependency(RuntimeError):
    """An optional package that the chosen methods need is not installed."""


def trl_version() -> str | None:
    """The installed TRL's version, or None."""
    try:
        return importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return None


def require_trl() -> None:
    """Raises :class:`MissingDependency` naming the package and how to install it when TRL is missing."""
    if trl_version() is None:
        raise MissingDependency(
            f"the RLOO runs need trl (pip install 'trl=={TRL_VERSION}' or 'prefopt[experiments]'); "
            "or leave them out with --methods"
        )


def rloo_config(method: Method, size: ExperimentSize, output_dir: Path, seed: int):
    """The ``RLOOConfig`` of one run: K generations per prompt, ``batch_size`` prompts per step."""
    from trl import RLOOConfig

    return RLOOConfig(
        output_dir=str(output_dir),
        beta=method.loss["beta"],
        num_generations=size.k,
        per_device_train_batch_size=size.batch_size * size.k,  # completions per step: one generation batch
        max_completion_length=size.max_new_tokens,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        learning_rate=size.lr * method.lr_scale,
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim="adamw_torch",
        weight_decay=0.0,
        max_grad_norm=MAX_GRAD_NORM,
        max_steps=size.steps,
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        gradient_checkpointing=False,  # small models: recomputing activations only costs time
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )


def train_rloo(
    method: Method,
    size: ExperimentSize,
    paths: dict[str, Path],
    evaluation,
    seed: int,
    log,
    *,
    tokenizer,
    prompts: list[str],
    scorer,
) -> list[Checkpoint]:
    """Train RLOO from pi_ref on ``prompts`` with ``scorer`` as the reward; a checkpoint at each of
    ``size.eval_steps``, measured by ``evaluation(policy) -> FrontierPoint``."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import RLOOTrainer

    checkpoints: list[Checkpoint] = []

    class Evaluate(TrainerCallback):
        """Measures the policy after each evaluation step; the step's loss is logged after the step ends."""

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in size.eval_steps:
                checkpoints.append(measure(method, state.global_step, model, evaluation, None, log))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if checkpoints and checkpoints[-1].step == state.global_step and "loss" in (logs or {}):
                last = checkpoints.pop()
                checkpoints.append(Checkpoint(last.step, last.point, float(logs["loss"])))

    def reward(prompts: list[str], completions: list[str], **_) -> list[float]:
        return [float(score) for score in scorer(prompts, completions)]

    reward.__name__ = "scorer"
    trainer = RLOOTrainer(
        model=str(paths["sft"]),
        reward_funcs=[reward],
        args=rloo_config(method, size, run_directory(paths, method, seed), seed),
        train_dataset=Dataset.from_dict({"prompt": list(prompts)}),
        processing_class=tokenizer,
        callbacks=[Evaluate()],
    )
    trainer.remove_callback(PrinterCallback)  # the experiment logs its own points
    trainer.train()
    return checkpoints
