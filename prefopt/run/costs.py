"""What a run cost, recorded in ``report.json`` next to its result: wall time per phase, throughput, peak memory.

Phases: ``setup`` (configuration, tokenizer, data, policy), ``reference`` (reference caches built or found, or a
live reference loaded), ``training`` (optimizer steps), ``evaluation`` (every held-out pass) and ``checkpoints``.
A resumed run counts the work of its own process only.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch

PHASES = ("setup", "reference", "training", "evaluation", "checkpoints")
SECONDS_DECIMALS = 6  # microseconds: a tiny run trains for a few hundredths of a second


class RunCosts:
    """Seconds per phase, training tokens, and where the reference log-probs came from."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.training_tokens = 0
        self.reference: str | list[str] = "none"  # the reference source's origin()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to ``name`` (one of :data:`PHASES`)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def report(self, device: torch.device) -> dict[str, Any]:
        """The ``costs`` entry of ``report.json``: ``wall_seconds`` per phase, ``reference`` (``built``, ``hit``,
        ``live`` or ``none``, per split for caches), ``training_tokens``, ``tokens_per_second`` (prompt and
        response tokens of every valid response, per second of training) and ``peak_memory``.

        The report is consistent with itself: ``tokens_per_second`` is ``training_tokens`` divided by the training
        seconds as written (rounded to :data:`SECONDS_DECIMALS`), then rounded to one decimal."""
        seconds = {phase: round(self.seconds[phase], SECONDS_DECIMALS) for phase in PHASES}
        training = seconds["training"]
        return {
            "wall_seconds": seconds,
            "reference": self.reference,
            "training_tokens": self.training_tokens,
            "tokens_per_second": round(self.training_tokens / training, 1) if training > 0 else None,
            "peak_memory": peak_memory(device),
        }


def peak_memory(device: torch.device) -> dict[str, Any]:
    """``{"bytes": N, "measure": ...}``: the CUDA allocator's peak on a GPU, else the process's peak resident set."""
    if device.type == "cuda":
        return {"bytes": int(torch.cuda.max_memory_allocated(device)), "measure": "torch.cuda.max_memory_allocated"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"bytes": int(peak if sys.platform == "darwin" else peak * 1024), "measure": "process peak resident set"}
