"""The file-hash memo: sha256 of weight files remembered by (resolved path, size, mtime_ns) in a JSON file.

The memo only saves rehashing: a memo that cannot be read or written, or one of the wrong shape, is reported with a
``RuntimeWarning`` naming the file and the reason, and the hashes are recomputed; it never stops a run and never
changes a hash.

File layout: one JSON object mapping each resolved file path to ``{"size": int, "mtime_ns": int, "sha256": hex}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

_CHUNK_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHAPE = 'a JSON object mapping file paths to {"size", "mtime_ns", "sha256"}'


class FileHashes:
    """sha256 of files, remembered in the JSON memo ``memo`` when given (``None``: always hash)."""

    def __init__(self, memo: Path | None):
        if memo is not None and memo.is_dir():
            _warn(f"ignoring the file-hash memo {memo}: it is a directory, left as it is")
            memo = None
        self.memo = memo
        self.changed = False
        self.entries: dict[str, dict[str, Any]] = _read_memo(memo) if memo is not None else {}

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = str(file.resolve())
        entry = self.entries.get(key)
        if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return entry["sha256"]
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
        self.entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        """Write the memo (a temporary file renamed into place) if a hash was computed; a failure is a warning."""
        if self.memo is None or not self.changed:
            return
        temporary = self.memo.with_name(f".{self.memo.name}.{os.getpid()}.tmp")
        try:
            self.memo.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
            os.replace(temporary, self.memo)
        except OSError as error:
            _warn(f"cannot save the file-hash memo {self.memo}: {error.strerror or error}")
        finally:
            with contextlib.suppress(OSError):  # nothing to remove when it could not be made
                temporary.unlink(missing_ok=True)


def _warn(message: str) -> None:
    warnings.warn(f"{message}; file hashes are recomputed instead", RuntimeWarning, stacklevel=3)


def _read_memo(memo: Path) -> dict[str, dict[str, Any]]:
    """The well-formed entries of ``memo``; nothing (with a warning) if it cannot be used."""
    try:
        text = memo.read_text()
    except (FileNotFoundError, NotADirectoryError):  # no memo yet
        return {}
    except OSError as error:  # no permission, ...
        _warn(f"ignoring the file-hash memo {memo}: {error.strerror or error}")
        return {}
    try:
        loaded = json.loads(text)
    except ValueError as error:
        _warn(f"ignoring the file-hash memo {memo}: not valid JSON ({error})")
        return {}
    if not isinstance(loaded, dict):
        _warn(f"ignoring the file-hash memo {memo}: expected {_SHAPE}; got {type(loaded).__name__}")
        return {}
    entries = {path: entry for path, entry in loaded.items() if _well_formed(entry)}
    if len(entries) < len(loaded):
        _warn(f"ignoring {len(loaded) - len(entries)} malformed entries of the file-hash memo {memo} (expected {_SHAPE})")
    return entries


def _well_formed(entry: Any) -> bool:
    def natural(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    return (
        isinstance(entry, dict)
        and natural(entry.get("size"))
        and natural(entry.get("mtime_ns"))
        and isinstance(entry.get("sha256"), str)
        and _SHA256.fullmatch(entry["sha256"]) is not None
    )
