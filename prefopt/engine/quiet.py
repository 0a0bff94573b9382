"""Silence what other libraries print while prefopt saves and loads, where prefopt's settings say so.

``logging.progress=false`` hides transformers' progress bars too ("Loading weights", "Writing model shards"), and
accelerate's ``Removed shared tensor {...} while saving`` warning is dropped for weights that are tied by the
model's configuration (the embedding matrix shared with the output layer): ``from_pretrained`` ties them again,
so nothing is lost. Any other removed tensor is still warned about.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from transformers.utils import logging as transformers_logging

_SHARED_TENSOR_LOGGER = "accelerate.utils.other"
_SHARED_TENSOR = re.compile(r"Removed shared tensor (\{.*?\}) while saving")  # after accelerate's "[RANK 0] "


@contextmanager
def transformers_progress(enabled: bool) -> Iterator[None]:
    """Show transformers' progress bars inside the block only if ``enabled``; the previous state is restored."""
    before = transformers_logging.is_progress_bar_enabled()
    (transformers_logging.enable_progress_bar if enabled else transformers_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (transformers_logging.enable_progress_bar if before else transformers_logging.disable_progress_bar)()


def tied_weights(model: nn.Module) -> set[str]:
    """Names of the parameters that share their tensor with an earlier one because the configuration ties them
    (``tie_word_embeddings``); empty for a model that ties nothing."""
    config = getattr(model, "config", None)
    if not getattr(config, "tie_word_embeddings", False):
        return set()
    first: dict[int, str] = {}
    tied = set()
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if first.setdefault(id(parameter), name) != name:
            tied.add(name)
    return tied


class _TiedWeightsFilter(logging.Filter):
    def __init__(self, tied: set[str]) -> None:
        super().__init__()
        self.tied = tied

    def filter(self, record: logging.LogRecord) -> bool:
        found = _SHARED_TENSOR.search(record.getMessage())
        return found is None or not ast.literal_eval(found.group(1)) <= self.tied


@contextmanager
def tied_weight_warning_silenced(model: nn.Module) -> Iterator[None]:
    """Drop accelerate's shared-tensor warning inside the block when every removed tensor is tied in ``model``."""
    tied = tied_weights(model)
    logger = logging.getLogger(_SHARED_TENSOR_LOGGER)
    quiet = _TiedWeightsFilter(tied)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
