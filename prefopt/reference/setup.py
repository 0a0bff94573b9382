"""A run's reference from its configuration: which model, which caches, which source of log-probs.

The engine asks for one object, :func:`reference_log_probs`; ``prefopt cache build`` asks for the caches alone,
:func:`reference_caches`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from prefopt.config import ModelConfig, RunConfig
from prefopt.data.batch import TokenizedExample
from prefopt.model.load import ModelSource, load_model, resolve_source
from prefopt.model.logprobs import configured_layout
from prefopt.reference.build import CacheJob, get_or_build
from prefopt.reference.cache import MEMO_NAME, ReferenceCache
from prefopt.reference.fingerprint import cache_fingerprint
from prefopt.reference.sources import AdapterDisabledReference, CachedReference, LiveReference, ReferenceLogProbs

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedTokenizerBase


def reference_log_probs(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    splits: Sequence[Sequence[TokenizedExample]],
    initial_policy: nn.Module | None,
    accelerator: Accelerator | None,
) -> ReferenceLogProbs:
    """Reference log-probs for the examples of ``splits``: from the caches (built on a miss), or live.

    Each split gets its own cache, computed in the batches :func:`prefopt.engine.evaluate.evaluate` also uses,
    so at step 0 the policy reproduces the held-out reference log-probs bit for bit.

    ``initial_policy`` is the policy before any training (LoRA adapters, if any, still zero). When the reference
    is the policy's initial weights it computes the caches, or, for a live reference of a LoRA run, serves with
    its adapters switched off; only a separate ``model.reference_path`` or a live reference of a full fine-tune
    loads a second model. With ``initial_policy=None`` (evaluating a trained model) the reference is always loaded
    from its source.
    """
    separate = config.model.reference_path is not None
    if config.reference.cache:
        serving = None if separate else initial_policy
        caches = list(reference_caches(config, tokenizer, [split for split in splits if split], accelerator, serving))
        gc.collect()  # frees a separately loaded reference model, dropped with the finished generator
        return CachedReference(caches, config.reference.cache_dir)
    if not separate and hasattr(initial_policy, "disable_adapter"):
        return AdapterDisabledReference(initial_policy, configured_layout(initial_policy, config.model))
    # a frozen copy, apart from the policy that will be trained
    source = reference_source(config.model, len(tokenizer), config.seed)
    model = reference_loader(source, config.model.dtype, _device(accelerator))()
    return LiveReference(model, configured_layout(model, config.model))


def reference_caches(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    splits: Sequence[Sequence[TokenizedExample]],
    accelerator: Accelerator | None,
    initial_policy: nn.Module | None = None,
) -> Iterator[ReferenceCache]:
    """The reference cache of each of ``splits``, in order, each built on a miss.

    The reference model is loaded at most once, at the first miss, and dropped when the iteration ends;
    ``initial_policy``, when given, serves instead of loading anything.
    """
    source = reference_source(config.model, len(tokenizer), config.seed)
    cache_dir = Path(config.reference.cache_dir).expanduser()
    load_reference = reference_loader(source, config.model.dtype, _device(accelerator), initial_policy)
    for examples in splits:
        job = CacheJob(
            examples=examples,
            fingerprint=cache_fingerprint(
                source,
                config.model.dtype,
                tokenizer,
                config.data,
                examples,
                memo=cache_dir / MEMO_NAME,
                forward=config.model,
            ),
            cache_dir=cache_dir,
            batch_size=config.reference.batch_size,
            pad_token_id=tokenizer.pad_token_id,
            accelerator=accelerator,
            progress=config.logging.progress,
            forward=config.model,
        )
        yield get_or_build(load_reference, job)


def reference_source(model: ModelConfig, vocab_size: int, seed: int) -> ModelSource:
    """The reference model: ``model.reference_path``, else the policy's initial weights (``model.path``, or the
    preset built with ``seed``)."""
    if model.reference_path is None:
        return resolve_source(model.path, model, vocab_size, seed, revision=model.revision)
    return resolve_source(
        model.reference_path, model, vocab_size, seed, setting="model.reference_path", revision=model.reference_revision
    )


def reference_loader(
    source: ModelSource,
    dtype: str,
    device: torch.device | None,
    initial_policy: nn.Module | None = None,
) -> Callable[[], nn.Module]:
    """A function returning the reference model of ``source`` in ``dtype`` on ``device``, loaded at most once and
    only when first called (a cache miss); ``initial_policy``, when given, serves instead of loading anything."""
    loaded: list[nn.Module] = [] if initial_policy is None else [initial_policy]

    def load() -> nn.Module:
        if not loaded:
            model = load_model(source, dtype)
            loaded.append(model.to(device) if device is not None else model)
        return loaded[0]

    return load


def _device(accelerator: Accelerator | None) -> torch.device | None:
    return accelerator.device if accelerator is not None else None
