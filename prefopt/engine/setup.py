"""What a run needs before its first step: tokenizer, tokenised splits, models and the reference log-probs.

Shared by ``prefopt train``, ``prefopt eval`` and ``prefopt cache``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedTokenizerBase

from prefopt import quickstart
from prefopt.config import RunConfig
from prefopt.data import load_preferences, split_examples, tokenize_examples
from prefopt.data.batch import TokenizedExample
from prefopt.engine import fingerprint, reference
from prefopt.engine.models import ModelSource, load_model, resolve_source
from prefopt.engine.step import AdapterDisabledReference, CachedReference, LiveReference, ReferenceLogProbs

QUICKSTART_SEED = 1234


@dataclass
class Splits:
    """Tokenised training and held-out examples, with the human-readable reports of how they were made."""

    train: list[TokenizedExample]
    eval: list[TokenizedExample]
    reports: list[str]


def _load(path: str | None, config: RunConfig) -> tuple[list, str]:
    if path is None:
        records = quickstart.generate(config.data.quickstart_size, seed=QUICKSTART_SEED)
        source = datasets.Dataset.from_list(records)
    else:
        source = path
    examples, report = load_preferences(source, format=config.data.format, on_error=config.data.on_error)
    return examples, report.summary()


def _tokenize(examples: list, config: RunConfig, tokenizer: PreTrainedTokenizerBase, name: str, *, required: bool):
    ids, report = tokenize_examples(
        examples,
        tokenizer,
        max_length=config.data.max_length,
        max_prompt_length=config.data.max_prompt_length,
        on_overflow=config.data.on_overflow,
    )
    report.check_kept(name, required=required)
    return ids, f"{name}: {report.summary()}"


def prepare_splits(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> Splits:
    """Load, validate, split and tokenise the configured data (the bundled quickstart data when no path)."""
    examples, load_report = _load(config.data.path, config)
    reports = [load_report]
    if config.data.eval_path is not None:
        train = examples
        held_out, eval_report = _load(config.data.eval_path, config)
        reports.append(eval_report)
    else:
        train, held_out = split_examples(examples, config.data.eval_fraction, seed=config.seed)
    train_ids, train_report = _tokenize(train, config, tokenizer, "train", required=True)
    eval_ids, eval_report = _tokenize(held_out, config, tokenizer, "eval", required=False)
    return Splits(train=train_ids, eval=eval_ids, reports=[*reports, train_report, eval_report])


def prepare_evaluation_data(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> Splits:
    """Every example of ``data.eval_path`` (or of ``data.path`` when there is none) as the held-out split."""
    examples, load_report = _load(config.data.eval_path or config.data.path, config)
    eval_ids, eval_report = _tokenize(examples, config, tokenizer, "eval", required=True)
    return Splits(train=[], eval=eval_ids, reports=[load_report, eval_report])


def policy_source(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> ModelSource:
    return resolve_source(config.model.path, config.model, len(tokenizer), config.seed)


def reference_source(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> ModelSource:
    """The reference model: ``model.reference_path``, else the policy's initial weights."""
    if config.model.reference_path is None:
        return policy_source(config, tokenizer)
    return resolve_source(config.model.reference_path, config.model, len(tokenizer), config.seed)


def source_identity(source: ModelSource, cache_dir: Path) -> str:
    """Exact identity of a model's weights without loading it (file hashes are memoised in ``cache_dir``)."""
    if source.description is not None:
        return fingerprint.model_identity(source.description)
    weights = source.path if source.gguf_file is None else source.path / source.gguf_file
    return fingerprint.model_identity(weights, memo=cache_dir / reference.MEMO_NAME)


def cache_fingerprint(
    config: RunConfig, tokenizer: PreTrainedTokenizerBase, examples: list[TokenizedExample]
) -> fingerprint.Fingerprint:
    """Everything that changes the reference log-probs of ``examples``."""
    return fingerprint.reference_fingerprint(
        model_identity=source_identity(
            reference_source(config, tokenizer), Path(config.reference.cache_dir).expanduser()
        ),
        dtype=config.model.dtype,
        tokenizer_identity=fingerprint.tokenizer_identity(tokenizer),
        settings={
            "max_length": config.data.max_length,
            "max_prompt_length": config.data.max_prompt_length,
            "on_overflow": config.data.on_overflow,
        },
        examples=examples,
    )


def reference_log_probs(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    splits: list[list[TokenizedExample]],
    initial_policy: nn.Module,
    accelerator: Accelerator | None,
) -> ReferenceLogProbs:
    """Reference log-probs for the examples of ``splits``: from the caches (built on a miss), or live.

    Each split gets its own cache, computed in the batches :func:`prefopt.engine.evaluate.evaluate` also uses,
    so at step 0 the policy reproduces the held-out reference log-probs bit for bit.

    ``initial_policy`` is the policy before any training (LoRA adapters, if any, still zero). When the reference
    is the policy's initial weights it computes the caches, or, for a live reference of a LoRA run, serves with
    its adapters switched off; only a separate ``model.reference_path`` or a live reference of a full fine-tune
    loads a second model.
    """
    separate = config.model.reference_path is not None
    if config.reference.cache:
        load_reference = reference_loader(config, tokenizer, None if separate else initial_policy, accelerator)
        caches = [reference_cache(config, tokenizer, split, load_reference, accelerator) for split in splits if split]
        del load_reference  # drops a separately loaded reference model: training holds one model
        gc.collect()
        return CachedReference(caches)
    if not separate and hasattr(initial_policy, "disable_adapter"):
        return AdapterDisabledReference(initial_policy)
    # a frozen copy, apart from the policy that will be trained
    return LiveReference(reference_loader(config, tokenizer, None, accelerator)())


def reference_loader(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    initial_policy: nn.Module | None,
    accelerator: Accelerator | None,
) -> Callable[[], nn.Module]:
    """A function returning the reference model on the run's device, loaded at most once and only when first
    called (a cache miss); ``initial_policy``, when given, serves instead of loading anything."""
    loaded: list[nn.Module] = [] if initial_policy is None else [initial_policy]

    def load() -> nn.Module:
        if not loaded:
            model = load_model(reference_source(config, tokenizer), config.model.dtype)
            loaded.append(model.to(accelerator.device) if accelerator is not None else model)
        return loaded[0]

    return load


def reference_cache(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[TokenizedExample],
    load_reference: Callable[[], nn.Module],
    accelerator: Accelerator | None,
) -> reference.ReferenceCache:
    """The reference cache of ``examples``; ``load_reference`` is called only on a miss."""
    return reference.get_or_build(
        fingerprint=cache_fingerprint(config, tokenizer, examples),
        cache_dir=Path(config.reference.cache_dir).expanduser(),
        load_model=load_reference,
        examples=examples,
        batch_size=config.reference.batch_size,
        pad_token_id=tokenizer.pad_token_id,
        accelerator=accelerator,
        progress=config.logging.progress,
    )
