"""One process owns a run directory: ``RUN/.lock``, created atomically, names the owner's pid and host.

A second ``prefopt train`` on the same directory is refused with one message naming the owner. A lock whose
owner is a process that no longer runs on this host (killed, or the machine restarted) is stale: it is taken over
with a note. A lock written from another host cannot be checked from here and is never taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from prefopt.config import ConfigError

LOCK_FILE = ".lock"


class RunDirectoryLocked(ConfigError):
    """Another live process owns the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class RunLock:
    """The lock of the run directory ``root``, held from :meth:`acquire` until :meth:`release`.

    ``notes`` receives what the lock has to say (a stale lock taken over).
    """

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self.owner = {"pid": os.getpid(), "host": socket.gethostname()}
        self.notes: list[str] = []

    def acquire(self) -> RunLock:
        """Take the lock, taking over a stale one.

        Raises:
            RunDirectoryLocked: a live process (or one on another host) owns the directory.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # written whole beside the lock, then linked into place: the link is atomic and fails where a lock exists,
        # so a lock file is never seen half written
        written = self.path.with_name(f"{LOCK_FILE}.{self.owner['pid']}.tmp")
        written.write_text(json.dumps({**self.owner, "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        try:
            for _ in range(2):  # a stale lock is removed once, then the link is tried again
                try:
                    os.link(written, self.path)
                    return self
                except FileExistsError:
                    self._refuse_or_clear()
        finally:
            written.unlink()
        raise RunDirectoryLocked(f"{self.path.parent} was locked by another process at the same moment; try again")

    def _refuse_or_clear(self) -> None:
        owner = self._recorded_owner()
        if owner is None:  # locks are written whole, so this one is no prefopt lock (or was damaged)
            self.notes.append(f"took over {self.path}: it names no owner")
        elif owner.get("host") == self.owner["host"] and not _alive(int(owner["pid"])):
            self.notes.append(f"took over the stale lock {self.path}: its owner, pid {owner['pid']}, no longer runs")
        else:
            raise RunDirectoryLocked(
                f"{self.path.parent} is in use by another run: pid {owner['pid']} on host {owner['host']} since "
                f"{owner.get('since', '?')} holds {self.path}. Wait for it to end, or choose another "
                f"logging.output_dir (if that process is gone, remove {self.path})"
            )
        self.path.unlink(missing_ok=True)

    def _recorded_owner(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) or "host" not in owner:
            return None
        return owner

    def release(self) -> None:
        """Remove the lock if this process still owns it."""
        owner = self._recorded_owner()
        if owner is not None and {key: owner[key] for key in self.owner} == self.owner:
            self.path.unlink(missing_ok=True)


@contextmanager
def owning_run(root: Path, state: Accelerator) -> Iterator[None]:
    """Hold the lock of ``root`` inside the block. Under a launcher only the main process takes it; the others
    share its run, and learn from it whether it got the lock.

    Raises:
        RunDirectoryLocked: on every process, when another run owns ``root``.
    """
    lock = RunLock(root)
    refusal = None
    if state.is_main_process:
        try:
            lock.acquire()
        except RunDirectoryLocked as error:
            refusal = str(error)
    if state.num_processes > 1:
        shared = [refusal]
        broadcast_object_list(shared)
        refusal = shared[0]
    if refusal is not None:
        raise RunDirectoryLocked(refusal)
    for note in lock.notes:
        state.print(note)
    try:
        yield
    finally:
        if state.is_main_process:
            lock.release()
