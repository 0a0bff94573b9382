"""The settings a run goes by, printed as one block at its start by ``prefopt train``, ``eval`` and ``cache build``.

Every value is the resolved one (defaults included), so the block answers "what did this run use?" without
reading the configuration file: model and tokenizer, data and split sizes, lengths, loss and its options,
optimisation, steps, precision, output directory and where the reference log-probs come from.
"""

from __future__ import annotations

import math

from prefopt.config import RunConfig
from prefopt.losses import TrainingLoss
from prefopt.reference.sources import ReferenceLogProbs
from prefopt.run.data import Splits

HEADER = "settings:"


def describe_model(config: RunConfig) -> str:
    """``runs/sft/final``, ``org/name (revision v1)`` or ``preset tiny (random weights, seed 0)``."""
    if config.model.path is not None:
        revision = config.model.revision
        return config.model.path + (f" (revision {revision})" if revision is not None else "")
    return f"preset {config.model.preset} (random weights, seed {config.seed})"


def describe_reference_model(config: RunConfig) -> str:
    """The reference model: ``model.reference_path`` (with its revision), else the policy's initial model."""
    model = config.model.reference_path or describe_model(config)
    if config.model.reference_path is not None and config.model.reference_revision is not None:
        model += f" (revision {config.model.reference_revision})"
    return model


def _data(config: RunConfig, splits: Splits) -> str:
    data = config.data
    quickstart = f"the bundled quickstart data ({data.quickstart_size} examples)"
    dataset = ", ".join(f"{key} {getattr(data, key)}" for key in ("subset", "data_dir") if getattr(data, key))
    named = f"{data.path} ({dataset})" if dataset else data.path
    in_memory = "records in memory"
    if not splits.train:  # evaluation: every example of one file
        if "eval" in splits.in_memory:
            source, sizes = in_memory, f"{len(splits.eval)} examples"
        else:
            source, sizes = data.eval_path or named or quickstart, f"{len(splits.eval)} examples"
            if data.eval_split or data.split:
                sizes += f" of split {data.eval_split or data.split}"
    else:
        source = in_memory if "train" in splits.in_memory else named or quickstart
        if data.split is not None and "train" not in splits.in_memory:
            source += f" split {data.split}"
        if "eval" in splits.in_memory:
            held_out = f"held-out {len(splits.eval)} from {in_memory}"
        elif data.eval_path is not None:
            held_out = f"held-out {len(splits.eval)} from {data.eval_path}"
        elif data.eval_split is not None:
            held_out = f"held-out {len(splits.eval)} from split {data.eval_split}"
        else:
            held_out = f"held-out {len(splits.eval)} (data.eval_fraction={data.eval_fraction})"
        sizes = f"train {len(splits.train)}, {held_out}"
    return (
        f"{source} (format {data.format}, on_error {data.on_error}): {sizes}; skipped {splits.skipped} rows, "
        f"dropped {splits.dropped}, truncated {splits.truncated_prompts} prompts and "
        f"{splits.truncated_responses} examples' responses"
    )


def _optimisation(config: RunConfig, num_train: int, steps: int, accumulation: int, processes: int) -> list[tuple]:
    optim = config.optim
    clip = "off" if optim.max_grad_norm is None else f"{optim.max_grad_norm:g}"
    per_epoch = math.ceil(num_train / optim.batch_size)
    if optim.max_steps is not None:
        length = f"{steps} (optim.max_steps; {steps * optim.batch_size / num_train:.2g} epochs of {per_epoch} steps)"
    else:
        length = f"{steps} (optim.epochs={optim.epochs:g}; an epoch is {per_epoch} steps)"
    return [
        (
            "optimizer",
            f"{optim.optimizer}, lr {optim.lr:g}, warm-up {optim.warmup_steps} steps then {optim.schedule}, "
            f"weight decay {optim.weight_decay:g}, max grad norm {clip}",
        ),
        (
            "batch",
            f"{optim.batch_size} prompts per step = {optim.micro_batch_size} per forward pass x {accumulation} "
            f"accumulation x {processes} process(es)",
        ),
        ("steps", length),
    ]


def settings_block(
    config: RunConfig,
    splits: Splits,
    *,
    loss: TrainingLoss | None = None,
    reference: ReferenceLogProbs | None = None,
    training: tuple[int, int, int] | None = None,
    reference_config: RunConfig | None = None,
) -> str:
    """The block printed at the start of a run.

    Args:
        config: the resolved configuration.
        splits: the prepared data (sizes and what was skipped, dropped, truncated).
        loss: the built loss (``prefopt cache build`` has none).
        reference: the run's reference source (cached, live, ...), or None for a reference-free loss.
        training: (steps, accumulation steps, processes) of a training run; None for eval and cache build.
        reference_config: where the reference model is described when it is not ``config``'s (``prefopt eval``
            of a trained model reads it from the run's recorded configuration).
    """
    model = config.model
    tokenizer = f"{model.tokenizer} (built in)" if model.path is None else f"the model's, from {model.path}"
    rows = [("model", describe_model(config)), ("tokenizer", tokenizer), ("data", _data(config, splits))]
    rows.append(
        (
            "lengths",
            f"max_length {config.data.max_length}, max_prompt_length {config.data.max_prompt_length}, "
            f"on_overflow {config.data.on_overflow}",
        )
    )
    if loss is not None:
        rows.append(("loss", loss.describe()))
    if training is not None:
        rows.extend(_optimisation(config, len(splits.train), *training))
    rows.append(("precision", f"weights {model.dtype}, mixed precision {config.optim.mixed_precision}"))
    if reference is not None:
        rows.append(("reference", reference.describe(describe_reference_model(reference_config or config))))
    elif loss is not None:
        rows.append(("reference", f"none (loss {loss.name} needs no reference)"))
    if training is not None:
        rows.append(("output", config.logging.output_dir))
    width = max(len(label) for label, _ in rows)
    return "\n".join([HEADER, *(f"  {label:<{width}}  {text}" for label, text in rows)])
