"""Where a batch's reference log-probs come from: a frozen model, the policy with its adapters off, or the caches.

Each source says what it is (:meth:`origin`, recorded in ``report.json``) and describes itself for the settings
block (:meth:`describe`), so nothing above needs to tell the sources apart.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from prefopt.data.batch import Batch
from prefopt.model.logprobs import Layout, sequence_logprobs
from prefopt.reference.cache import ReferenceCache


class ReferenceLogProbs(Protocol):
    """Reference log-probs of a batch's responses, (B, K) float32."""

    def __call__(self, batch: Batch) -> Tensor: ...

    def origin(self) -> str | list[str]:
        """``live``, ``live (adapters off)``, or per cache ``built`` / ``hit`` (training split first)."""
        ...

    def describe(self, model: str) -> str:
        """Where the log-probs come from, ``model`` being the reference model's description."""
        ...


class LiveReference:
    """Reference log-probs computed by a frozen model held in memory (run in ``layout``), batch by batch."""

    def __init__(self, model: nn.Module, layout: Layout) -> None:
        self.model = model.eval().requires_grad_(False)
        self.layout = layout

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad():
            return sequence_logprobs(self.model, batch, self.layout).summed

    def origin(self) -> str:
        return "live"

    def describe(self, model: str) -> str:
        return f"live frozen model {model}"


class AdapterDisabledReference:
    """Reference log-probs of a PEFT policy with its adapters switched off: the base weights, no second model."""

    def __init__(self, model: nn.Module, layout: Layout) -> None:
        self.model = model
        self.layout = layout

    def __call__(self, batch: Batch) -> Tensor:
        with torch.no_grad(), self.model.disable_adapter():
            return sequence_logprobs(self.model, batch, self.layout).summed

    def origin(self) -> str:
        return "live (adapters off)"

    def describe(self, model: str) -> str:
        return "live: the policy with its LoRA adapters off"


class CachedReference:
    """Reference log-probs read by example key from the caches of a run (one per split); ``directory`` is the
    cache directory as configured (``~`` unexpanded), for messages."""

    def __init__(self, caches: list[ReferenceCache], directory: str | None = None) -> None:
        self.caches = caches
        self.directory = directory if directory is not None else str(caches[0].path.parent)

    def __call__(self, batch: Batch) -> Tensor:
        cache = next((c for c in self.caches if all(key in c for key in batch.keys)), self.caches[0])
        return cache.lookup(batch.keys, batch.valid.shape[1]).to(batch.valid.device)  # KeyError names a missing key

    def origin(self) -> list[str]:
        return ["built" if cache.built else "hit" for cache in self.caches]

    def describe(self, model: str) -> str:
        """``MODEL; cache in DIR: hit 3f2a9c1d0e5b7a21 (2119 examples), built 0a9b... (235 examples)``."""
        entries = [
            f"{'built' if cache.built else 'hit'} {cache.fingerprint.digest[:16]} ({len(cache)} examples)"
            for cache in self.caches
        ]
        return f"{model}; cache in {self.directory}: {', '.join(entries)}"
