"""The experiment's outputs: the reward-KL plot (the DPO paper's Figure 2 at this scale) and a Markdown table.

Every run is one curve from pi_ref (KL 0) through its checkpoints, coloured by method family; best-of-N is a
dashed line through its N. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

COLOURS = {
    "dpo (all pairs)": "tab:blue",
    "dpo (best vs worst)": "tab:cyan",
    "plackett_luce": "tab:red",
    "ipo": "tab:purple",
    "unlikelihood": "tab:olive",
    "preferred-ft (sft on best)": "tab:green",
    "best-of-N": "black",
}
MARKERS = "osD^v<>p*"


def plot_frontier(results: dict, path: Path, title: str) -> None:
    """Reward against KL(pi || pi_ref) of every run (``results["runs"]``) and of best-of-N, as a PNG."""
    import matplotlib  # optional: prefopt[experiments]

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=90)
    reference = results["reference"]
    runs_of_family: dict[str, int] = {}
    for run in results["runs"]:
        family = run["family"]
        marker = MARKERS[runs_of_family.get(family, 0) % len(MARKERS)]  # the family's runs apart
        runs_of_family[family] = runs_of_family.get(family, 0) + 1
        xs = [0.0] + [p["kl"] for p in run["points"]]
        ys = [reference["reward"]] + [p["reward"] for p in run["points"]]
        label = family if runs_of_family[family] == 1 else None
        axes.plot(
            xs, ys, color=COLOURS.get(family, "gray"), marker=marker, markersize=4, linewidth=1, alpha=0.85, label=label
        )
        axes.annotate(
            run["name"].split(" ", 1)[-1] if " " in run["name"] else "", (xs[-1], ys[-1]), fontsize=6, alpha=0.7
        )
    best = results["best_of_n"]
    axes.plot([b["kl"] for b in best], [b["reward"] for b in best], "k--", marker="x", label="best-of-N (pi_ref)")
    for b in best:
        axes.annotate(f"N={b['n']}", (b["kl"], b["reward"]), fontsize=6)
    axes.set_xlabel("KL(pi || pi_ref), nats per sample")
    axes.set_ylabel("mean VADER reward")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    partial = path.with_name(f".{path.name}.tmp")
    figure.savefig(partial, format="png")
    pyplot.close(figure)
    os.replace(partial, path)


def table(results: dict) -> str:
    """Markdown: per run, its last checkpoint and its best-reward checkpoint; then pi_ref and best-of-N."""
    lines = [
        "| method | run | steps | final reward | final KL | best reward (KL) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        last = run["points"][-1]
        best = max(run["points"], key=lambda p: p["reward"])
        lines.append(
            f"| {run['family']} | {run['name']} | {last['step']} | {last['reward']:+.3f} | {last['kl']:.2f} | "
            f"{best['reward']:+.3f} ({best['kl']:.2f}) |"
        )
    ref = results["reference"]
    lines.append(f"| pi_ref (SFT) | - | 0 | {ref['reward']:+.3f} | 0.00 | - |")
    for b in results["best_of_n"]:
        lines.append(f"| best-of-N | N={b['n']} | 0 | {b['reward']:+.3f} | {b['kl']:.2f} | - |")
    return "\n".join(lines) + "\n"
