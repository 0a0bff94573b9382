"""The models of the rounds: where each policy lives, loading one to sample from, saving a preset start.

The starting model pi_0 is ``train.model.path`` (at ``train.model.revision``), or, for a preset, the preset built
with ``train.seed`` and saved once in ``OUT/start`` so that later rounds can name it as their reference. The policy
of round r is ``OUT/round-NN/train/final``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch
from accelerate import PartialState

from prefopt.config import RunConfig
from prefopt.iterative.layout import RoundsDirectory
from prefopt.model.load import load_model, load_tokenizer, resolve_source
from prefopt.run.directory import TEMPORARY, remove_tree


@dataclass(frozen=True)
class ModelRef:
    """A model by ``path`` (a directory, a .gguf file or a Hub id) and ``revision`` (of a Hub id)."""

    path: str
    revision: str | None = None


def starting_model(train: RunConfig, directory: RoundsDirectory) -> ModelRef:
    """pi_0: ``train.model.path``, or the preset of ``train.model`` saved in ``OUT/start`` (once; written to
    ``start.tmp`` and renamed)."""
    if train.model.path is not None:
        return ModelRef(train.model.path, train.model.revision)
    target = directory.start_dir
    if not target.is_dir():
        tokenizer = load_tokenizer(train.model)
        model = load_model(resolve_source(None, train.model, len(tokenizer), train.seed), train.model.dtype)
        partial = target.with_name(target.name + TEMPORARY)
        remove_tree(partial)
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    return ModelRef(str(target))


def load_policy(ref: ModelRef, train: RunConfig):
    """``(tokenizer, model)`` of ``ref`` in ``train.model.dtype``, the model on the device training uses (a GPU
    where there is one)."""
    model_config = train.model.model_copy(update={"path": ref.path, "revision": ref.revision})
    tokenizer = load_tokenizer(model_config)
    source = resolve_source(ref.path, model_config, len(tokenizer), train.seed, revision=ref.revision)
    model = load_model(source, train.model.dtype)
    return tokenizer, model.to(PartialState().device)


def free_memory() -> None:
    """Return the memory of models the caller no longer refers to (to the GPU's allocator too)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
