"""The run builder: a validated configuration (and records in memory, if any) -> the parts of a run.

One function, :func:`build_run`, for every purpose: ``train`` (the policy to train and its reference, built from
the policy's initial weights where they are the reference), ``evaluate`` (the model evaluated and, apart from it,
the reference it is compared with) and ``cache`` (the reference caches alone, no policy). The training loop
(:class:`prefopt.engine.loop.Trainer`), :func:`prefopt.evaluate`, ``prefopt cache build`` and the experiments
take what it returns; none of them loads anything itself.

Order matters and is the same for every purpose: the loss first (a misspelt loss or option fails before any
loading), then the tokenizer and the data (bad rows fail before any model is loaded), then the policy on the
run's device, then the reference (which the policy's initial weights may serve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from prefopt.config import ConfigError, RunConfig
from prefopt.losses import TrainingLoss, build_loss
from prefopt.model.load import ModelSource, load_model, load_tokenizer, resolve_source
from prefopt.model.logprobs import Layout, configured_layout
from prefopt.model.precision import slow_bfloat16_warning
from prefopt.plots import PLOT_EXTRA, plotting_available
from prefopt.reference import CachedReference, ReferenceLogProbs, reference_caches, reference_log_probs
from prefopt.run.costs import RunCosts
from prefopt.run.data import Records, Splits, prepare_evaluation_data, prepare_splits

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedTokenizerBase

Purpose = Literal["train", "evaluate", "cache"]


@dataclass
class RunParts:
    """What a run is made of.

    Attributes:
        config: the validated configuration.
        accelerator: the ``accelerate.Accelerator`` the parts were placed with.
        loss: the bound loss (or weighted sum) of ``config.loss``.
        tokenizer: the model's tokenizer (with a padding token).
        splits: the tokenised training and held-out examples.
        policy: the model trained or evaluated, on the accelerator's device (None for ``cache``).
        source: where the policy's weights came from (None for ``cache``).
        layout: the layout every forward of the policy runs in (None for ``cache``).
        reference: where the reference log-probs come from (None for a reference-free loss).
        costs: wall time spent building (``setup`` and ``reference`` phases), continued by the loop.
    """

    config: RunConfig
    accelerator: Accelerator
    loss: TrainingLoss
    tokenizer: PreTrainedTokenizerBase
    splits: Splits
    policy: nn.Module | None = None
    source: ModelSource | None = None
    layout: Layout | None = None
    reference: ReferenceLogProbs | None = None
    costs: RunCosts = field(default_factory=RunCosts)


def build_run(
    config: RunConfig,
    accelerator: Accelerator,
    *,
    purpose: Purpose = "train",
    train: Records | None = None,
    eval: Records | None = None,
    reference_config: RunConfig | None = None,
    prepared: Callable[[RunParts], None] | None = None,
) -> RunParts:
    """Build the parts of a run (see the module docstring).

    Args:
        config: the validated configuration.
        accelerator: where the models go and how many processes share the work.
        purpose: ``train``, ``evaluate`` or ``cache``.
        train: training records in memory instead of ``config.data`` (``train`` and ``cache``).
        eval: held-out records in memory (``train`` and ``cache``), or the records to evaluate (``evaluate``).
        reference_config: for ``evaluate``, the configuration whose model is the reference (a model is never
            compared with itself); None evaluates without a reference.
        prepared: called with the parts once the data and the policy are ready, before the reference is built
            (a resumed run checks there that they are those it began on).

    Raises:
        ConfigError: settings that cannot run (before anything is loaded).
    """
    costs = RunCosts()
    with costs.phase("setup"):
        if purpose == "train":
            _check_training_settings(config, accelerator.num_processes)
        loss = build_loss(config.loss)
        autocast = config.optim.mixed_precision if purpose == "train" else "no"
        if warning := slow_bfloat16_warning(accelerator.device, config.model.dtype, autocast):
            accelerator.print(warning)
        tokenizer = load_tokenizer(config.model)
        if purpose == "evaluate":
            splits = prepare_evaluation_data(config, tokenizer, data=eval)
        else:
            splits = prepare_splits(config, tokenizer, train=train, eval=eval)
        for line in splits.reports:
            accelerator.print(line)
        parts = RunParts(config, accelerator, loss, tokenizer, splits, costs=costs)
        if purpose != "cache":
            _load_policy(parts, training=purpose == "train")
        if prepared is not None:
            prepared(parts)
    with costs.phase("reference"):
        parts.reference = _reference(parts, purpose, reference_config)
    return parts


def _check_training_settings(config: RunConfig, processes: int) -> None:
    if config.logging.plots is True and not plotting_available():
        raise ConfigError(f"logging.plots=true needs matplotlib: {PLOT_EXTRA} (or set logging.plots=false)")
    optim = config.optim
    if optim.batch_size % (optim.micro_batch_size * processes):
        raise ConfigError(
            f"optim.batch_size ({optim.batch_size}) must be a multiple of optim.micro_batch_size "
            f"({optim.micro_batch_size}) times the number of processes ({processes})"
        )


def _load_policy(parts: RunParts, *, training: bool) -> None:
    """The policy on the run's device (before the reference pass, which it may serve); for training with dropout
    off and LoRA adapters added when configured."""
    config = parts.config
    parts.source = resolve_source(
        config.model.path, config.model, len(parts.tokenizer), config.seed, revision=config.model.revision
    )
    model = load_model(parts.source, config.model.dtype).to(parts.accelerator.device)
    parts.layout = configured_layout(model, config.model)
    if training:
        _disable_dropout(model)
        if config.model.lora is not None:
            model = _apply_lora(model, config)
    parts.policy = model


def _reference(parts: RunParts, purpose: Purpose, reference_config: RunConfig | None) -> ReferenceLogProbs | None:
    config, splits, accelerator = parts.config, parts.splits, parts.accelerator
    if purpose == "cache":  # one cache per split, as training uses them
        caches = list(reference_caches(config, parts.tokenizer, [splits.train, splits.eval], accelerator))
        return CachedReference(caches, config.reference.cache_dir)
    if not parts.loss.declarations.needs_reference:
        return None
    if purpose == "evaluate":
        if reference_config is None:
            return None
        return reference_log_probs(reference_config, parts.tokenizer, [splits.eval], None, accelerator)
    return reference_log_probs(config, parts.tokenizer, [splits.train, splits.eval], parts.policy, accelerator)


def _disable_dropout(model: nn.Module) -> None:
    """Dropout would make the policy differ from the reference at step 0; DPO trains without it."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _apply_lora(model: nn.Module, config: RunConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model  # optional dependency: prefopt[peft]

    lora = config.model.lora
    return get_peft_model(
        model,
        LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules),
    )

