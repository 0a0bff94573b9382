"""The reference model's log-probs: computed once per dataset, cached on disk by fingerprint, served by example key.

Modules:

- :mod:`~prefopt.reference.setup`: from a run's configuration, the one object the engine asks for,
  :func:`reference_log_probs` (cached, adapter-disabled or live), and the caches alone, :func:`reference_caches`;
- :mod:`~prefopt.reference.sources`: the :class:`ReferenceLogProbs` protocol and its three sources;
- :mod:`~prefopt.reference.fingerprint`: how a cache is keyed, computable without building the model;
- :mod:`~prefopt.reference.build`: one pass of the reference over a dataset (:func:`get_or_build`);
- :mod:`~prefopt.reference.cache`: the cache file (read, verify, atomic write, list, delete);
- :mod:`~prefopt.reference.memo`: the file-hash memo that spares rehashing unchanged weight files;
- :mod:`~prefopt.reference.batches`: the fixed batches shared by the cache build and held-out evaluation.

The names of :mod:`~prefopt.reference.setup` load on first use, so reading or listing caches does not import
``transformers``.
"""

from __future__ import annotations

import importlib
from typing import Any

from prefopt.reference.batches import reference_batches, unique_examples
from prefopt.reference.build import CacheJob, build_reference_cache, get_or_build
from prefopt.reference.cache import (
    MEMO_NAME,
    CacheEntry,
    CorruptCacheError,
    ReferenceCache,
    ReferenceCacheError,
    cache_info,
    clear_cache,
)
from prefopt.reference.fingerprint import (
    FORMAT_VERSION,
    Fingerprint,
    cache_fingerprint,
    dataset_hash,
    dtype_name,
    model_identity,
    reference_fingerprint,
    source_identity,
    tokenisation_settings,
    tokenizer_identity,
)
from prefopt.reference.sources import AdapterDisabledReference, CachedReference, LiveReference, ReferenceLogProbs

_SETUP_NAMES = ("reference_caches", "reference_loader", "reference_log_probs", "reference_source")


def __getattr__(name: str) -> Any:
    if name in _SETUP_NAMES:
        return getattr(importlib.import_module("prefopt.reference.setup"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "MEMO_NAME",
    "AdapterDisabledReference",
    "CacheEntry",
    "CacheJob",
    "CachedReference",
    "CorruptCacheError",
    "Fingerprint",
    "LiveReference",
    "ReferenceCache",
    "ReferenceCacheError",
    "ReferenceLogProbs",
    "build_reference_cache",
    "cache_fingerprint",
    "cache_info",
    "clear_cache",
    "dataset_hash",
    "dtype_name",
    "get_or_build",
    "model_identity",
    "reference_batches",
    "reference_caches",
    "reference_fingerprint",
    "reference_loader",
    "reference_log_probs",
    "reference_source",
    "source_identity",
    "tokenisation_settings",
    "tokenizer_identity",
    "unique_examples",
]
