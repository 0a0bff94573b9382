"""A run as pictures: PNG curves of the training and held-out metrics in ``metrics.jsonl``.

One PNG per quantity: loss, preference accuracy, reward margin, implicit rewards per rank (rank 0: the best, the
"chosen" response of a pair), policy log-probs per rank, Kendall tau (K > 2 rankings only), learning rate and
gradient norm. Curves of several runs share each figure (a beta sweep, two losses side by side): one colour per
run, solid lines for training, dashed for held-out. Needs matplotlib, installed by ``pip install 'prefopt[plot]'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
PLOT_EXTRA = "pip install 'prefopt[plot]'"

#: file stem -> (title, metric names or a prefix followed by "rank<k>")
FIGURES: dict[str, tuple[str, str]] = {
    "loss": ("loss", "loss"),
    "accuracy": ("preference accuracy", "accuracy"),
    "margin": ("reward margin (better minus worse)", "margin"),
    "rewards": ("implicit reward per rank (rank 0 = chosen)", "rewards/rank"),
    "logps": ("policy log-prob per rank (rank 0 = chosen)", "logps/policy/rank"),
    "kendall_tau": ("Kendall tau of rewards vs ranking", "kendall_tau"),
    "lr": ("learning rate", "lr"),
    "grad_norm": ("gradient norm before clipping", "grad_norm"),
}


class PlotError(ValueError):
    """A run directory without metrics, a metrics line that is not JSON, or matplotlib missing."""


@dataclass
class RunCurves:
    """The logged metrics of one run: ``points[split][metric]`` is a list of (step, value)."""

    label: str
    points: dict[str, dict[str, list[tuple[int, float]]]]

    def series(self, split: str, name: str) -> list[tuple[int, float]]:
        return self.points.get(split, {}).get(name, [])


def plotting_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def read_curves(run_dir: Path, label: str) -> RunCurves:
    """The curves of ``run_dir/metrics.jsonl`` (its ``config`` lines, which record resumed changes, left out).

    Raises:
        PlotError: no metrics file, or a line that is not a JSON object with a step and a split (file and line named).
    """
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise PlotError(f"{run_dir}: no {METRICS_FILE}; expected the output directory of prefopt train")
    points: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
            step, split = entry.pop("step"), entry.pop("split")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise PlotError(f"{path}, line {number}: not a metrics line ({type(error).__name__}: {error})") from None
        if split == "config":
            continue
        for name, value in entry.items():
            if isinstance(value, int | float):
                points.setdefault(split, {}).setdefault(name, []).append((step, float(value)))
    return RunCurves(label, points)


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """Each run's directory name, or its whole path where two names would be alike."""
    names = [path.resolve().name for path in run_dirs]
    return [name if names.count(name) == 1 else str(path) for name, path in zip(names, run_dirs, strict=True)]


def _metric_names(runs: Sequence[RunCurves], key: str) -> list[str]:
    if not key.endswith("/rank"):
        return [key]
    found = {name for run in runs for split in run.points.values() for name in split if name.startswith(key)}
    return sorted(found, key=lambda name: int(name.removeprefix(key)))


def figures(runs: Sequence[RunCurves]) -> Iterator[tuple[str, Any]]:
    """``(file stem, matplotlib Figure)`` of every quantity of :data:`FIGURES` that some run logged."""
    from matplotlib.figure import Figure

    for stem, (title, key) in FIGURES.items():
        names = _metric_names(runs, key)
        if not any(run.series(split, name) for run in runs for split in ("train", "eval") for name in names):
            continue
        figure = Figure(figsize=(6.4, 4.0), layout="constrained")
        axes = figure.add_subplot()
        for i, (run, name) in enumerate((run, name) for run in runs for name in names):
            suffix = f" {name.rsplit('/', 1)[-1]}" if len(names) > 1 else ""
            for split, style in (("train", "-"), ("eval", "--")):
                series = run.series(split, name)
                if series:
                    steps, values = zip(*series, strict=True)
                    label = f"{run.label}{suffix} ({'held-out' if split == 'eval' else split})"
                    marker = "." if len(steps) < 30 else None
                    axes.plot(steps, values, style, color=f"C{i % 10}", marker=marker, label=label)
        axes.set(title=title, xlabel="optimizer step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        yield stem, figure


def write_plots(run_dirs: Sequence[Path], out_dir: Path) -> list[Path]:
    """Draw every figure for which some run logged values into ``out_dir``; returns the PNGs written.

    Each PNG is written to a temporary name and renamed into place.

    Raises:
        PlotError: matplotlib is missing (the message names the extra), or a run's metrics cannot be read.
    """
    if not plotting_available():
        raise PlotError(f"plots need matplotlib: {PLOT_EXTRA}")
    runs = [read_curves(path, label) for path, label in zip(run_dirs, run_labels(run_dirs), strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, figure in figures(runs):
        target = out_dir / f"{stem}.png"
        partial = out_dir / f".{stem}.png.{os.getpid()}.tmp"
        figure.savefig(partial, format="png", dpi=100)
        os.replace(partial, target)
        written.append(target)
    return written
