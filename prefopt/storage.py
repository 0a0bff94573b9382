"""Writes that fail for lack of space or permission: one message naming the path and the free space.

Every writer of a run (reference cache, checkpoints, ``final/``, ``metrics.jsonl``) goes through :func:`writing`,
which turns the many forms such a failure takes (``OSError``; ``SafetensorError: ... No space left on device``;
torch's ``[enforce fail at inline_container.cc]``) into one :class:`StorageError` and removes the write's
temporary files. :func:`check_writable` finds a directory that cannot be written before any long work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StorageError(OSError):
    """A write that failed (a full disk, no permission, a read-only file system); its temporary files are gone."""


def _failed_write(error: BaseException) -> bool:
    """Whether ``error`` is how a file write failed, in any of the forms the writers raise it."""
    if isinstance(error, OSError):
        return True
    text = str(error)
    if type(error).__name__ == "SafetensorError":
        return "I/O error" in text or "os error" in text
    return isinstance(error, RuntimeError) and ("inline_container.cc" in text or "PytorchStreamWriter" in text)


def free_space(path: Path) -> str:
    """``1.2 GiB free of 50.0 GiB`` on the file system of ``path`` (or of its nearest existing parent)."""
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return "free space unknown"
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}"


def storage_error(what: str, path: Path, error: BaseException) -> StorageError:
    """``cannot write <what> <path>: <reason> (<free space> on its disk)``."""
    return StorageError(f"cannot write {what} {path}: {_reason(error)} ({free_space(path)} on its disk)")


@contextmanager
def writing(what: str, path: Path, *temporary: Path) -> Iterator[None]:
    """Write ``path`` inside the block; a failed write removes ``temporary`` (files or directories) and raises
    :class:`StorageError` naming ``what``, ``path`` and the free space (measured before the clean-up, when the
    disk is as full as the write left it). A file where a directory is needed passes through as it is."""
    try:
        yield
    except (StorageError, FileExistsError, NotADirectoryError):
        raise  # a file where a directory is needed is a mistake in the input, not a failed write
    except Exception as error:
        if not _failed_write(error):
            raise
        failure = storage_error(what, path, error)
        for leftover in temporary:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists():
                leftover.unlink()
        raise failure from None


def check_writable(directory: Path, setting: str) -> None:
    """Create ``directory`` (and its parents) and write and remove a probe file in it.

    ``chmod`` does not stop root, so permission is tested by writing, not by reading mode bits.

    Raises:
        FileExistsError / NotADirectoryError: a file stands where a directory is needed (a mistake in the input).
        StorageError: the directory cannot be written (permission, read-only file system, full disk).
    """
    with writing(f"in {setting}", directory):
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".prefopt-probe-")
        try:
            os.write(handle, b"\0")  # a full disk refuses the first byte, not the empty file
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(probe)
