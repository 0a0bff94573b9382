"""The reference log-prob cache: one pass of pi_ref over the dataset, stored on disk by fingerprint.

Values are addressed by each example's stable key, never by row position. The cache is computed from fixed
batches (:func:`reference_batches`: longest examples first, ties by key), so its content does not depend on the
order the examples arrive in nor on how many processes share the pass.

File layout: ``<cache_dir>/<digest>.safetensors`` with tensors ``values`` (N, K) float32 (summed response
log-probs, 0 on padding slots), ``lengths`` (N, K) int64 (response token counts, 0 on padding slots),
``key_bytes`` (uint8, the UTF-8 keys concatenated) and ``key_offsets`` (N + 1,) int64; rows are sorted by key.
The safetensors metadata holds ``format_version``, ``components`` (the fingerprint's, as JSON), ``created``,
``batch_size`` and ``checksum``, a sha256 over the other metadata and every tensor's bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine.fingerprint import FORMAT_VERSION, Fingerprint, dataset_hash, dtype_name, unique_examples
from prefopt.engine.logprobs import sequence_logprobs

SUFFIX = ".safetensors"
#: File name, inside a cache directory, of the file-hash memo to pass to ``model_identity(..., memo=...)``.
MEMO_NAME = "file-hashes.json"
_TENSORS = ("values", "lengths", "key_bytes", "key_offsets")


class CorruptCacheError(ValueError):
    """A cache file that cannot be trusted; loading reports it as a warning and a miss."""


@dataclass
class ReferenceCache:
    """Summed reference log-probs of every response of a dataset, addressed by example key.

    Attributes:
        path: the file the cache lives in.
        fingerprint: what the values were computed from.
        keys: N example keys, sorted.
        values: (N, K) float32 summed response log-probs; 0 on padding slots.
        lengths: (N, K) int64 response token counts; 0 on padding slots.
        created: ISO 8601 UTC time the values were computed.
        batch_size: examples per forward pass when they were computed.
    """

    path: Path
    fingerprint: Fingerprint
    keys: list[str]
    values: Tensor
    lengths: Tensor
    created: str
    batch_size: int

    def __post_init__(self) -> None:
        self._rows = {key: row for row, key in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    @property
    def num_slots(self) -> int:
        """K, the largest number of responses of any example."""
        return self.values.shape[1]

    def lookup(self, keys: Sequence[str], num_slots: int) -> Tensor:
        """(B, num_slots) float32 reference log-probs of ``keys``; padding slots hold 0.

        Raises ``KeyError`` naming the first missing key and the cache file, and ``ValueError`` if an example has
        more responses than ``num_slots``.
        """
        rows = []
        for key in keys:
            if key not in self._rows:
                raise KeyError(f"example key {key!r} is not in the reference cache {self.path}")
            rows.append(self._rows[key])
        index = torch.tensor(rows, dtype=torch.long)
        values, lengths = self.values[index], self.lengths[index]  # (B, K)
        if num_slots < self.num_slots and bool((lengths[:, num_slots:] > 0).any()):
            raise ValueError(f"an example among {list(keys)} has more than {num_slots} responses")
        out = values.new_zeros(len(rows), num_slots)
        width = min(num_slots, self.num_slots)
        out[:, :width] = values[:, :width]
        return out

    @classmethod
    def load(cls, cache_dir: str | os.PathLike[str], digest: str) -> ReferenceCache | None:
        """The cache for ``digest`` in ``cache_dir``, or ``None`` if there is none or it is corrupt.

        A corrupt file (truncated, bad checksum, other format version, keys that do not match the fingerprint) is
        reported with a ``RuntimeWarning`` naming the path and reason, and treated as a miss so it gets rebuilt.
        """
        path = Path(cache_dir) / f"{digest}{SUFFIX}"
        if not path.is_file():
            return None
        try:
            return cls.read(path, expected_digest=digest)
        except CorruptCacheError as error:
            warnings.warn(
                f"ignoring corrupt reference cache {path}: {error}; it will be rebuilt", RuntimeWarning, stacklevel=2
            )
            return None

    @classmethod
    def read(cls, path: str | os.PathLike[str], expected_digest: str | None = None) -> ReferenceCache:
        """Read and verify one cache file; raises :class:`CorruptCacheError` if it cannot be trusted."""
        path = Path(path)
        metadata, tensors = _read_file(path)
        if metadata["checksum"] != _checksum(metadata, tensors):
            raise CorruptCacheError("checksum mismatch")
        fingerprint = Fingerprint.from_components(metadata["components"])
        if fingerprint.digest != (expected_digest or path.name.removesuffix(SUFFIX)):
            raise CorruptCacheError(f"its content has fingerprint {fingerprint.digest}")
        raw, offsets = tensors["key_bytes"].numpy().tobytes(), tensors["key_offsets"].tolist()
        keys = [raw[start:end].decode() for start, end in zip(offsets[:-1], offsets[1:], strict=True)]
        values, lengths = tensors["values"], tensors["lengths"]
        if keys != sorted(set(keys)) or len(keys) != fingerprint.components["dataset"]["num_examples"]:
            raise CorruptCacheError("its keys do not match the fingerprint's dataset")
        if values.dtype != torch.float32 or values.shape != lengths.shape or values.shape[0] != len(keys):
            raise CorruptCacheError(
                f"tensor shapes {tuple(values.shape)} / {tuple(lengths.shape)} for {len(keys)} keys"
            )
        return cls(path, fingerprint, keys, values, lengths, metadata["created"], int(metadata["batch_size"]))


def reference_batches(examples: Sequence[TokenizedExample], batch_size: int) -> list[list[TokenizedExample]]:
    """The fixed batches a cache is computed from: unique examples, longest first (prompt plus longest
    response, then number of responses), ties by key, cut into groups of ``batch_size``.

    Padding can change float results in the last bits, so a live :func:`sequence_logprobs` over these same
    batches reproduces the cached values bit for bit; other batch compositions agree up to rounding.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    def longest_first(e: TokenizedExample) -> tuple[int, int, str]:
        return -len(e.prompt_ids) - max(map(len, e.response_ids)), -len(e.response_ids), e.key

    ordered = sorted(unique_examples(examples).values(), key=longest_first)
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def build_reference_cache(
    model: nn.Module,
    examples: Sequence[TokenizedExample],
    *,
    fingerprint: Fingerprint,
    cache_dir: str | os.PathLike[str],
    batch_size: int,
    pad_token_id: int,
    accelerator: Any | None = None,
    progress: bool = True,
) -> ReferenceCache:
    """Run ``model`` once over ``examples`` and write the cache ``<cache_dir>/<fingerprint.digest>.safetensors``.

    The model runs in eval mode under ``torch.inference_mode`` in its own dtype and on its own device; its training
    mode is restored afterwards. With an ``accelerate.Accelerator`` of several processes, batch ``i`` of
    :func:`reference_batches` runs on process ``i % num_processes``, results are gathered, the main process writes
    the file, and every process returns the same cache. Every process must call this with the same arguments.

    Raises ``ValueError`` if ``examples`` or the model's dtype do not match ``fingerprint``.
    """
    if not examples:
        raise ValueError("cannot build a reference cache for an empty dataset")
    if dataset_hash(examples) != fingerprint.components["dataset"]:
        raise ValueError("the examples do not match the fingerprint's dataset")
    model_dtype = dtype_name(next(model.parameters()).dtype)
    if model_dtype != fingerprint.components["dtype"]:
        raise ValueError(f"the model runs in {model_dtype} but the fingerprint says {fingerprint.components['dtype']}")
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    batches = reference_batches(examples, batch_size)[rank::world]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[tuple[list[str], Tensor, Tensor]] = []  # per batch: B keys, (B, K) values, (B, K) lengths
    try:
        with torch.inference_mode():
            for group in tqdm(batches, desc="reference log-probs", unit="batch", disable=not progress or rank != 0):
                out = sequence_logprobs(model, collate(group, pad_token_id).to(device))
                results.append(([e.key for e in group], out.summed.cpu(), out.lengths.cpu()))
    finally:
        model.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object

        results = gather_object(results)
    cache = _assemble(Path(cache_dir) / f"{fingerprint.digest}{SUFFIX}", fingerprint, results, batch_size)
    if rank == 0:
        _write(cache)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return cache


def get_or_build(
    load_model: Callable[[], nn.Module],
    examples: Sequence[TokenizedExample],
    *,
    fingerprint: Fingerprint,
    cache_dir: str | os.PathLike[str],
    batch_size: int,
    pad_token_id: int,
    accelerator: Any | None = None,
    progress: bool = True,
) -> ReferenceCache:
    """The cache for ``fingerprint``, built with ``load_model()`` only on a miss (a hit never builds the model).

    With several processes the cache counts as a hit only if every process can load it; otherwise all build.
    No reference to the model returned by ``load_model`` is kept, so once the caller drops its own, training holds
    one model.
    """
    cache = ReferenceCache.load(cache_dir, fingerprint.digest)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        if not all(gather_object([cache is not None])):
            cache = None
    if cache is not None:
        return cache
    return build_reference_cache(
        load_model(),
        examples,
        fingerprint=fingerprint,
        cache_dir=cache_dir,
        batch_size=batch_size,
        pad_token_id=pad_token_id,
        accelerator=accelerator,
        progress=progress,
    )


@dataclass(frozen=True)
class CacheEntry:
    """One file of a cache directory, described from its header (values are not read nor verified).

    Attributes:
        path: the file.
        digest: the fingerprint's digest (the file name).
        size_bytes: the file's size.
        num_examples: N; ``None`` if the header is unreadable.
        num_slots: K; ``None`` if the header is unreadable.
        dtype: the dtype the reference ran in; ``None`` if the header is unreadable.
        created: ISO 8601 UTC time of computation; ``None`` if the header is unreadable.
        components: the fingerprint's components; empty if the header is unreadable.
        error: why the header is unreadable, else ``None``.
    """

    path: Path
    digest: str
    size_bytes: int
    num_examples: int | None = None
    num_slots: int | None = None
    dtype: str | None = None
    created: str | None = None
    components: dict[str, Any] | None = None
    error: str | None = None


def cache_info(cache_dir: str | os.PathLike[str]) -> list[CacheEntry]:
    """Every cache file in ``cache_dir``, sorted by digest; an empty list if the directory does not exist."""
    entries = []
    for path in sorted(Path(cache_dir).glob(f"*{SUFFIX}")):
        digest, size = path.name.removesuffix(SUFFIX), path.stat().st_size
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = _parse_metadata(handle.metadata())
                shape = handle.get_slice("values").get_shape()
        except Exception as error:  # any unreadable header is reported, not raised
            entries.append(CacheEntry(path, digest, size, error=f"{type(error).__name__}: {error}"))
            continue
        components = metadata["components"]
        entries.append(
            CacheEntry(path, digest, size, shape[0], shape[1], components.get("dtype"), metadata["created"], components)
        )
    return entries


def clear_cache(cache_dir: str | os.PathLike[str], digest: str | None = None) -> list[Path]:
    """Delete the cache whose digest is or starts with ``digest``, or, without one, every cache file, leftover
    temporary file and the file-hash memo in ``cache_dir``. Returns the deleted paths.

    Raises ``FileNotFoundError`` if ``digest`` matches no cache and ``ValueError`` if it matches several.
    """
    directory = Path(cache_dir)
    if digest is None:
        doomed = [*directory.glob(f"*{SUFFIX}"), *directory.glob(f".*{SUFFIX}.*.tmp"), directory / MEMO_NAME]
    else:
        doomed = list(directory.glob(f"{digest}*{SUFFIX}"))
        if not doomed:
            raise FileNotFoundError(f"no reference cache {digest!r} in {directory}")
        if len(doomed) > 1:
            raise ValueError(f"{digest!r} matches {len(doomed)} caches in {directory}; give more of the digest")
    removed = [path for path in doomed if path.is_file()]
    for path in removed:
        path.unlink()
    return removed


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
        path, fingerprint, [keys[i] for i in order], values[index], lengths[index], created, batch_size
    )


def _tensors(cache: ReferenceCache) -> dict[str, Tensor]:
    encoded = [key.encode() for key in cache.keys]
    offsets = torch.tensor([0, *map(len, encoded)], dtype=torch.long).cumsum(0)
    joined = bytearray(b"".join(encoded))
    key_bytes = torch.frombuffer(joined, dtype=torch.uint8) if joined else torch.zeros(0, dtype=torch.uint8)
    return {"values": cache.values, "lengths": cache.lengths, "key_bytes": key_bytes, "key_offsets": offsets}


def _checksum(metadata: dict[str, Any], tensors: dict[str, Tensor]) -> str:
    digest = hashlib.sha256(json.dumps({k: v for k, v in metadata.items() if k != "checksum"}, sort_keys=True).encode())
    for name in _TENSORS:
        tensor = tensors[name].contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _write(cache: ReferenceCache) -> None:
    """Write ``cache`` to a temporary file beside ``cache.path``, then rename it into place (atomic)."""
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    tensors = _tensors(cache)
    metadata = {
        "format_version": FORMAT_VERSION,
        "components": cache.fingerprint.components,
        "created": cache.created,
        "batch_size": cache.batch_size,
    }
    metadata["checksum"] = _checksum(metadata, tensors)
    handle, temporary = tempfile.mkstemp(dir=cache.path.parent, prefix=f".{cache.path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata={k: json.dumps(v) for k, v in metadata.items()})
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, cache.path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _parse_metadata(raw: dict[str, str] | None) -> dict[str, Any]:
    try:
        metadata = {k: json.loads(v) for k, v in (raw or {}).items()}
    except ValueError as error:
        raise CorruptCacheError(f"unreadable metadata ({error})") from error
    missing = {"format_version", "components", "created", "batch_size", "checksum"} - metadata.keys()
    if missing:
        raise CorruptCacheError(f"metadata lacks {sorted(missing)}")
    if metadata["format_version"] != FORMAT_VERSION:
        raise CorruptCacheError(f"format version {metadata['format_version']}, this prefopt reads {FORMAT_VERSION}")
    return metadata


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = _parse_metadata(handle.metadata())
            tensors = {name: handle.get_tensor(name) for name in _TENSORS}
    except CorruptCacheError:
        raise
    except Exception as error:  # truncated or garbled files surface as many error types
        raise CorruptCacheError(f"unreadable file ({type(error).__name__}: {error})") from error
    return metadata, tensors
