"""Where a batch's reference log-probs come from: a frozen model, the policy with its adapters off, or the caches."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from prefopt.data.batch import Batch
from prefopt.engine.logprobs import sequence_logprobs
from prefopt.reference.cache import ReferenceCache


class ReferenceLogProbs(Protocol):
    """Reference log-probs of a batch's responses, (B, K) float32."""

    def __call__(self, batch: Batch) -> Tensor: ...


class LiveReference:
    """Reference log-probs computed by a frozen model held in memory, batch by batch."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval().requires_grad_(False)

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad():
            return sequence_logprobs(self.model, batch).summed


class AdapterDisabledReference:
    """Reference log-probs of a PEFT policy with its adapters switched off: the base weights, no second model."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad(), self.model.disable_adapter():
            return sequence_logprobs(self.model, batch).summed


class CachedReference:
    """Reference log-probs read by example key from the caches of a run (one per split)."""

    def __init__(self, caches: list[ReferenceCache]) -> None:
        self.caches = caches

    def __call__(self, batch: Batch) -> Tensor:
        cache = next((c for c in self.caches if all(key in c for key in batch.keys)), self.caches[0])
        return cache.lookup(batch.keys, batch.valid.shape[1]).to(batch.valid.device)  # KeyError names a missing key
