"""``metrics.jsonl``: one JSON object per line (``step``, ``split``, metrics), optionally mirrored to TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path

from prefopt.storage import writing


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (main process only) and counts the lines.

    ``keep_lines`` is None for a new run (the file starts empty), or the number of lines the file held when the
    checkpoint being resumed was written: what was logged after it is cut off, so no line is ever logged twice.
    A failed write raises :class:`~prefopt.storage.StorageError`.
    """

    def __init__(self, path: Path, enabled: bool, keep_lines: int | None, tensorboard_dir: Path | None) -> None:
        self.path, self.enabled, self.lines = path, enabled, 0
        self.writer = None
        if not enabled:
            return
        kept = path.read_text().splitlines()[:keep_lines] if keep_lines is not None and path.exists() else []
        partial = path.with_name(path.name + ".tmp")
        with writing("the metrics log", path, partial):
            partial.write_text("".join(line + "\n" for line in kept))
            os.replace(partial, path)
        self.lines = len(kept)
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ImportError("logging.tensorboard=true needs: pip install 'prefopt[tensorboard]'") from None
            self.writer = SummaryWriter(str(tensorboard_dir))

    def logged(self, step: int, split: str) -> dict[str, float] | None:
        """The metrics logged for ``step`` and ``split``, if this file holds them (main process only)."""
        if not self.enabled or not self.path.exists():
            return None
        for line in self.path.read_text().splitlines():
            entry = json.loads(line)
            if entry.pop("step") == step and entry.pop("split") == split:
                return entry
        return None

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        self._append({"step": step, "split": split, **metrics})
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"{split}/{name}", value, step)
            self.writer.flush()

    def write_changes(self, step: int, changes: dict[str, tuple]) -> None:
        """One ``"split": "config"`` line: the settings a resumed run changed at ``step``, each [old, new]."""
        self._append({"step": step, "split": "config", "changed": {key: list(pair) for key, pair in changes.items()}})

    def _append(self, entry: dict) -> None:
        if not self.enabled:
            return
        with writing("the metrics log", self.path), self.path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        self.lines += 1
