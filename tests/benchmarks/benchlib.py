"""Shared by the benchmark scripts: the machine line, HH-RLHF rows, call wrappers and plain-text tables."""

from __future__ import annotations

import functools
import gzip
import os
import platform
import time
from pathlib import Path


def machine() -> str:
    """CPU model, core count, torch version and the 1/5/15-minute load averages."""
    import torch

    cpu = platform.processor() or "unknown cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; load {load}"


def hh_rows(source: Path | None, count: int) -> list[str] | None:
    """The first ``count`` lines of an HH-RLHF ``.jsonl.gz``; ``None`` without a file."""
    if source is None or not source.is_file():
        return None
    with gzip.open(source, "rt") as rows:
        return [line for _, line in zip(range(count), rows, strict=False)]


def time_calls(module, name: str, timings: dict[str, float]) -> None:
    """Replace ``module.name`` by a wrapper that adds each call's wall time to ``timings[name]``."""
    original = getattr(module, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, timed)


def after_first_call(module, name: str, callback) -> None:
    """Replace ``module.name`` by a wrapper that passes the first call's return value to ``callback`` (and
    returns it unchanged)."""
    original = getattr(module, name)
    called = False

    @functools.wraps(original)
    def watched(*args, **kwargs):
        nonlocal called
        result = original(*args, **kwargs)
        if not called:
            called = True
            callback(result)
        return result

    setattr(module, name, watched)


def table(headers: list[str], rows: list[list]) -> str:
    """Right-aligned columns; floats with 4 significant digits."""
    cells = [headers, *[[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
