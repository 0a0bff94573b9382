"""Computing a reference cache: one pass of pi_ref over the dataset, reused on later runs by fingerprint.

The cache is computed from fixed batches (:func:`prefopt.reference.batches.reference_batches`: longest examples
first, ties by key), so its content does not depend on the order the examples arrive in nor on how many processes
share the pass.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from prefopt.config import ModelConfig
from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.logprobs import configured_layout, sequence_logprobs
from prefopt.reference.batches import reference_batches
from prefopt.reference.cache import SUFFIX, ReferenceCache, write_cache
from prefopt.reference.fingerprint import Fingerprint, dataset_hash, dtype_name


@dataclass(frozen=True)
class CacheJob:
    """What a cache holds and how it is computed.

    Attributes:
        examples: the tokenised examples whose reference log-probs are cached; order and exact duplicates do not
            matter.
        fingerprint: what the values are computed from (its digest names the file).
        cache_dir: the directory the file lives in.
        batch_size: examples per forward pass.
        pad_token_id: the id padding prompts and responses.
        accelerator: an ``accelerate.Accelerator`` whose processes share the pass, or ``None`` for one process.
        progress: show a progress bar (main process only).
        forward: the layout settings of the forward pass (:func:`~prefopt.model.logprobs.configured_layout`);
            None: the defaults.
    """

    examples: Sequence[TokenizedExample]
    fingerprint: Fingerprint
    cache_dir: str | os.PathLike[str]
    batch_size: int
    pad_token_id: int
    accelerator: Any | None = None
    progress: bool = True
    forward: ModelConfig | None = None

    @property
    def path(self) -> Path:
        """``<cache_dir>/<fingerprint.digest>.safetensors``."""
        return Path(self.cache_dir) / f"{self.fingerprint.digest}{SUFFIX}"


def build_reference_cache(model: nn.Module, job: CacheJob) -> ReferenceCache:
    """Run ``model`` once over ``job.examples`` and write the cache file ``job.path``.

    The model runs in eval mode under ``torch.inference_mode`` in its own dtype and on its own device; its training
    mode is restored afterwards. With an ``accelerate.Accelerator`` of several processes, batch ``i`` of
    :func:`reference_batches` runs on process ``i % num_processes``, results are gathered, the main process writes
    the file, and every process returns the same cache. Every process must call this with the same job.

    Raises ``ValueError`` if the examples or the model's dtype do not match ``job.fingerprint``.
    """
    examples, fingerprint, accelerator = job.examples, job.fingerprint, job.accelerator
    if not examples:
        raise ValueError("cannot build a reference cache for an empty dataset")
    if dataset_hash(examples) != fingerprint.components["dataset"]:
        raise ValueError("the examples do not match the fingerprint's dataset")
    model_dtype = dtype_name(next(model.parameters()).dtype)
    if model_dtype != fingerprint.components["dtype"]:
        raise ValueError(f"the model runs in {model_dtype} but the fingerprint says {fingerprint.components['dtype']}")
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    batches = reference_batches(examples, job.batch_size)[rank::world]
    device = next(model.parameters()).device
    layout = configured_layout(model, job.forward or ModelConfig())
    was_training = model.training
    model.eval()
    results: list[tuple[list[str], Tensor, Tensor]] = []  # per batch: B keys, (B, K) values, (B, K) lengths
    try:
        with torch.inference_mode():
            bar = tqdm(batches, desc="reference log-probs", unit="batch", disable=not job.progress or rank != 0)
            for group in bar:
                out = sequence_logprobs(model, collate(group, job.pad_token_id).to(device), layout)
                results.append(([e.key for e in group], out.summed.cpu(), out.lengths.cpu()))
    finally:
        model.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object

        results = gather_object(results)
    cache = _assemble(job.path, fingerprint, results, job.batch_size)
    if rank == 0:
        write_cache(cache)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return cache


def get_or_build(load_model: Callable[[], nn.Module], job: CacheJob) -> ReferenceCache:
    """The cache of ``job``, built with ``load_model()`` only on a miss (a hit never builds the model).

    With several processes the cache counts as a hit only if every process can load it; otherwise all build.
    No reference to the model returned by ``load_model`` is kept, so once the caller drops its own, training holds
    one model.
    """
    cache = ReferenceCache.load(job.cache_dir, job.fingerprint.digest)
    if job.accelerator is not None and job.accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        if not all(gather_object([cache is not None])):
            cache = None
    if cache is not None:
        return cache
    return build_reference_cache(load_model(), job)


def _assemble(
    path: Path, fingerprint: Fingerprint, results: list[tuple[list[str], Tensor, Tensor]], batch_size: int
) -> ReferenceCache:
    """One cache, rows sorted by key, from per-batch results (B keys, (B, K_b) values, (B, K_b) lengths)."""
    keys = [key for batch_keys, _, _ in results for key in batch_keys]
    slots = max(values.shape[1] for _, values, _ in results)
    values = torch.cat([nn.functional.pad(v, (0, slots - v.shape[1])) for _, v, _ in results])  # (N, K)
    lengths = torch.cat([nn.functional.pad(n, (0, slots - n.shape[1])) for _, _, n in results])  # (N, K)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    index = torch.tensor(order, dtype=torch.long)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return ReferenceCache(
        path, fingerprint, [keys[i] for i in order], values[index], lengths[index], created, batch_size, built=True
    )
