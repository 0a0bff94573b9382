"""The summary table printed at the end of a rounds run, one line per round."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    "round",
    "prompts",
    "tied",
    "score",
    "held-out score",
    "KL to start",
    "accuracy",
    "tau",
    "sample s",
    "score s",
    "train s",
    "kl s",
)


def _estimate(value: dict[str, float | None] | None) -> str:
    """``mean ± se`` (``mean`` alone without a standard error; ``-`` without a value)."""
    if value is None:
        return "-"
    return f"{value['mean']:.3f}" + (f" ± {value['se']:.3f}" if value["se"] is not None else "")


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(reports: list[dict[str, Any]]) -> str:
    """The reports of the rounds as an aligned text table: the round's samples (prompts, prompts whose scores all
    tie, mean score ± its standard error clustered by prompt), the trained policy's held-out score and KL to the
    starting model, its held-out accuracy and Kendall tau on the round's data, and seconds per phase."""
    rows = [COLUMNS]
    for report in reports:
        held_out, seconds = report["held_out"] or {}, report["seconds"]
        rows.append(
            (
                str(report["round"]),
                str(report["prompts"]),
                str(report["tied_prompts"]),
                _estimate(report["score"]),
                _estimate(held_out.get("score")),
                _number(held_out.get("kl_to_start"), 3),
                _number(report["accuracy"], 3),
                _number(report["kendall_tau"], 3),
                *(_number(seconds.get(phase), 1) for phase in ("sampling", "scoring", "training", "kl")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
