"""How ``prefopt train`` and ``prefopt eval`` print held-out metrics: each with its standard error and the number
of examples it is measured on, the metrics a loss optimises first (the negative log-likelihood per token of the
best response and its perplexity for a likelihood objective such as SFT, else preference accuracy and margin)."""

from __future__ import annotations

from collections.abc import Sequence

PREFERENCE = ("accuracy", "margin", "kendall_tau", "loss")
LIKELIHOOD = ("nll_per_token", "perplexity", "loss")
FEW_EXAMPLES = 100  # below this many held-out examples, the report says how rough its numbers are


def headline(metrics: dict[str, float]) -> tuple[str, ...]:
    """The metrics shown first: those of a likelihood objective when the evaluation measured them, else the
    preference metrics."""
    return LIKELIHOOD if "nll_per_token" in metrics else PREFERENCE


def with_error(metrics: dict[str, float], name: str) -> str:
    """``0.6000 ± 0.2191``, or the value alone when no standard error was measured."""
    value = f"{metrics[name]:.4f}"
    error = metrics.get(f"{name}_se")
    return value if error is None else f"{value} ± {error:.4f}"


def table(columns: Sequence[tuple[str, dict[str, float]]], names: Sequence[str], title: str) -> list[str]:
    """Rows of ``names`` found in the last column, one column per ``(heading, metrics)``."""
    rows = [(title, *(heading for heading, _ in columns))]
    last = columns[-1][1]
    for name in names:
        if name in last:
            rows.append((name, *(with_error(m, name) if name in m else "-" for _, m in columns)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
        for row in rows
    ]


def held_out_lines(
    columns: Sequence[tuple[str, dict[str, float]]],
    what: str = "held-out",
    more: str = "data.eval_fraction or data.eval_path gives more",
) -> list[str]:
    """The metrics table of ``columns`` (``(heading, metrics)``, the last one deciding which rows), the secondary
    preference accuracy of a likelihood objective, and how many ``what`` examples the standard errors are over
    (with ``more``, how to get more, when they are few)."""
    last = columns[-1][1]
    examples = int(last.get("examples", 0))
    title = f"{what} metric" + (f" ({examples} examples)" if examples else "")
    lines = table(columns, headline(last), title)
    if headline(last) is LIKELIHOOD and "accuracy" in last:
        values = " -> ".join(with_error(m, "accuracy") for _, m in columns if "accuracy" in m)
        lines.append(f"secondary: preference accuracy of the policy's log-probs {values}")
    if examples:
        lines.append(f"± is one standard error over the {examples} {what} examples")
        if examples < FEW_EXAMPLES:
            lines.append(
                f"only {examples} {what} examples: these numbers are rough (an accuracy or tau of 1.0 on them is "
                f"no proof); {more}"
            )
    return lines
