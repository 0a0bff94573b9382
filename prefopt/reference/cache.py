"""The reference log-prob cache file: reading, verifying, atomic writing, listing and deleting.

Values are addressed by each example's stable key, never by row position.

File layout: ``<cache_dir>/<digest>.safetensors`` with tensors ``values`` (N, K) float32 (summed response
log-probs, 0 on padding slots), ``lengths`` (N, K) int64 (response token counts, 0 on padding slots),
``key_bytes`` (uint8, the UTF-8 keys concatenated) and ``key_offsets`` (N + 1,) int64; rows are sorted by key.
The safetensors metadata holds ``format_version``, ``components`` (the fingerprint's, as JSON), ``created``,
``batch_size`` and ``checksum``, a sha256 over the other metadata and every tensor's bytes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from prefopt.reference.fingerprint import FORMAT_VERSION, Fingerprint
from prefopt.storage import check_writable, writing

SUFFIX = ".safetensors"
#: File name, inside a cache directory, of the file-hash memo to pass to ``model_identity(..., memo=...)``.
MEMO_NAME = "file-hashes.json"
_TENSORS = ("values", "lengths", "key_bytes", "key_offsets")


class CorruptCacheError(ValueError):
    """A cache file that cannot be trusted; loading reports it as a warning and a miss."""


class ReferenceCacheError(OSError):
    """A cache directory that cannot be used: not a directory, not readable or writable, or a directory where a
    cache file belongs. The message names the path; nothing is deleted to make room."""


def _directory_error(path: Path, error: OSError, doing: str) -> ReferenceCacheError:
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        reason = f"{error.filename or path} is a file, or lies under one, where a directory is needed"
    else:
        reason = f"{error.strerror or error}" + (f" ({error.filename})" if error.filename else "")
    return ReferenceCacheError(f"cannot {doing} {path}: {reason}")


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
        built: computed by this process (a cache miss) rather than read from the file (a hit).
    """

    path: Path
    fingerprint: Fingerprint
    keys: list[str]
    values: Tensor
    lengths: Tensor
    created: str
    batch_size: int
    built: bool = False

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
        Raises :class:`ReferenceCacheError` if ``cache_dir`` cannot be searched or a directory stands in the
        cache file's place.
        """
        path = Path(cache_dir) / f"{digest}{SUFFIX}"
        try:
            if not path.exists():
                return None
        except OSError as error:
            raise _directory_error(Path(cache_dir), error, "read the reference cache directory") from None
        if not path.is_file():
            raise ReferenceCacheError(
                f"{path} is not a file, but a reference cache file belongs there; remove it or choose another "
                "reference.cache_dir"
            )
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


def _listing(cache_dir: str | os.PathLike[str]) -> list[Path]:
    """The entries of ``cache_dir``; none if it does not exist. Raises :class:`ReferenceCacheError` if it is
    not a directory or cannot be listed."""
    directory = Path(cache_dir)
    try:
        return [directory / name for name in os.listdir(directory)]
    except FileNotFoundError:
        return []
    except OSError as error:
        raise _directory_error(directory, error, "list the reference cache directory") from None


def cache_info(cache_dir: str | os.PathLike[str]) -> list[CacheEntry]:
    """Every cache file in ``cache_dir``, sorted by digest; an empty list if the directory does not exist.

    Raises :class:`ReferenceCacheError` if ``cache_dir`` is not a directory or cannot be listed.
    """
    entries = []
    for path in sorted(p for p in _listing(cache_dir) if p.name.endswith(SUFFIX)):
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

    Raises ``FileNotFoundError`` if ``digest`` matches no cache, ``ValueError`` if it matches several and
    :class:`ReferenceCacheError` if ``cache_dir`` is not a directory or a file cannot be deleted.
    """
    directory = Path(cache_dir)
    listing = _listing(directory)
    if digest is None:
        patterns = (f"*{SUFFIX}", f".*{SUFFIX}.*.tmp")  # caches, leftover temporary files
        doomed = [p for p in listing if any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns)]
        doomed.append(directory / MEMO_NAME)
    else:
        doomed = [p for p in listing if p.name.startswith(digest) and p.name.endswith(SUFFIX)]
        if not doomed:
            raise FileNotFoundError(f"no reference cache {digest!r} in {directory}")
        if len(doomed) > 1:
            raise ValueError(f"{digest!r} matches {len(doomed)} caches in {directory}; give more of the digest")
    removed = [path for path in doomed if path.is_file()]
    for path in removed:
        try:
            path.unlink()
        except OSError as error:
            raise _directory_error(path, error, "delete") from None
    return removed


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


def write_cache(cache: ReferenceCache) -> None:
    """Write ``cache`` to a temporary file beside ``cache.path``, then rename it into place (atomic).

    Raises :class:`ReferenceCacheError` naming the path if a file stands where the directory belongs, and
    :class:`~prefopt.storage.StorageError` naming the path and the free space if the write fails (a full disk,
    no permission); the temporary file is removed either way.
    """
    try:
        with writing("the reference cache", cache.path):
            _write(cache)
    except (FileExistsError, NotADirectoryError) as error:
        raise _directory_error(cache.path, error, "write the reference cache") from None


def check_cache_directory(cache_dir: str | os.PathLike[str]) -> None:
    """Before any long work: make ``cache_dir`` and write a probe file in it.

    Raises :class:`ReferenceCacheError` if a file stands where the directory belongs, and
    :class:`~prefopt.storage.StorageError` if it cannot be written.
    """
    directory = Path(cache_dir).expanduser()
    try:
        check_writable(directory, "reference.cache_dir")
    except (FileExistsError, NotADirectoryError) as error:
        raise _directory_error(directory, error, "write the reference cache in") from None


def _write(cache: ReferenceCache) -> None:
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
