"""The experiment's outputs: the reward-KL plot (the DPO paper's Figure 2 at this scale) and a Markdown table.

Only measured points are drawn: each run of each seed is a line through its own checkpoints (the first at step
1, no line to pi_ref), one colour per method family, with 95% intervals both ways (clustered by prompt); pi_ref is a
star per seed, best-of-N a dashed line per seed, labelled an oracle (it reranks with the evaluation scorer
itself). Every seed's curve is drawn: no averaging across seeds. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefopt.experiments.sentiment.sizes import RLOO

COLOURS = {
    "dpo (all pairs)": "tab:blue",
    "dpo (best vs worst)": "tab:cyan",
    "plackett_luce": "tab:red",
    "ipo": "tab:purple",
    "unlikelihood": "tab:olive",
    "preferred-ft (sft on best)": "tab:green",
    RLOO: "tab:orange",
}
MARKERS = "osD^v<>p*"
BEST_OF_N = "best-of-N of pi_ref (oracle: reranked by the evaluation scorer)"


def family_label(family: str, results: dict) -> str:
    """The legend's name of a family; RLOO with the TRL version that ran it."""
    return f"RLOO (TRL {results['environment']['trl']})" if family == RLOO else family


def _errors(points: list[dict], value: str) -> list[list[float]]:
    """matplotlib's 2 x n asymmetric error bars of ``value`` from each point's ``value_ci``."""
    return [
        [p[value] - p[f"{value}_ci"][0] for p in points],
        [p[f"{value}_ci"][1] - p[value] for p in points],
    ]


def plot_frontier(results: dict, path: Path, title: str, colours: dict[str, str] = COLOURS) -> None:
    """Reward against KL(pi || pi_ref) of every run and seed, pi_ref and best-of-N, with intervals, as a PNG;
    ``colours`` maps each run's family to its colour."""
    import matplotlib  # optional: prefopt[experiments]

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=90)
    run_names = list(dict.fromkeys(run["name"] for run in results["runs"]))
    labelled: set[str] = set()
    for run in results["runs"]:
        family, points = run["family"], run["points"]
        if not points:
            continue
        label = None if family in labelled else family_label(family, results)
        labelled.add(family)
        axes.errorbar(
            [p["kl"] for p in points],
            [p["reward"] for p in points],
            xerr=_errors(points, "kl"),
            yerr=_errors(points, "reward"),
            color=colours.get(family, "gray"),
            marker=MARKERS[run_names.index(run["name"]) % len(MARKERS)],
            markersize=3,
            linewidth=0.8,
            elinewidth=0.5,
            capsize=1.5,
            alpha=0.8,
            label=label,
        )
        axes.annotate(run["name"].split(" ", 1)[-1], (points[-1]["kl"], points[-1]["reward"]), fontsize=5, alpha=0.7)
    for i, reference in enumerate(results["reference"]):
        axes.errorbar(
            [reference["kl"]],
            [reference["reward"]],
            yerr=_errors([reference], "reward"),
            color="black",
            marker="*",
            markersize=8,
            capsize=2,
            linestyle="none",
            label="pi_ref (SFT)" if i == 0 else None,
        )
    for i, seed in enumerate(results["seeds"]):
        best = [b for b in results["best_of_n"] if b["seed"] == seed]
        axes.errorbar(
            [b["kl"] for b in best],
            [b["reward"] for b in best],
            yerr=_errors(best, "reward"),
            color="black",
            linestyle="--",
            marker="x",
            linewidth=0.8,
            capsize=2,
            label=BEST_OF_N if i == 0 else None,
        )
        if i == 0:
            for b in best:
                axes.annotate(f"N={b['n']}", (b["kl"], b["reward"]), fontsize=6)
    axes.set_xlabel("KL(pi || pi_ref), nats per sample (95% intervals, clustered by prompt)")
    axes.set_ylabel(f"mean {results['scorer']} reward")
    seeds = ", ".join(map(str, results["seeds"]))
    axes.set_title(f"{title}\nseeds {seeds}, one curve per run and seed", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6, loc="best")
    figure.tight_layout()
    partial = path.with_name(f".{path.name}.tmp")
    figure.savefig(partial, format="png")
    pyplot.close(figure)
    os.replace(partial, path)


def with_interval(point: dict, value: str, digits: int, sign: str = "") -> str:
    """``value`` of ``point`` and its 95% interval ``value_ci``: ``+0.400 [+0.350, +0.450]``."""
    low, high = point[f"{value}_ci"]
    return f"{point[value]:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def table(results: dict) -> str:
    """Markdown: per run and seed, its last checkpoint (with the part of its KL at EOS tokens and the share of
    completions that finished) and its best-reward checkpoint, with 95% intervals; then pi_ref and best-of-N per
    seed, the pi_ref checks and the design effect of one point."""
    lines = [
        "| method | run | seed | steps | final reward [95%] | final KL [95%] | KL at EOS | finished | "
        "best reward (KL, step) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        if not run["points"]:
            continue
        last = run["points"][-1]
        best = max(run["points"], key=lambda p: p["reward"])
        lines.append(
            f"| {family_label(run['family'], results)} | {run['name']} | {run['seed']} | {last['step']} | "
            f"{with_interval(last, 'reward', 3, '+')} | {with_interval(last, 'kl', 2)} | {last['kl_eos']:.2f} | "
            f"{last['finished']:.2f} | {best['reward']:+.3f} ({best['kl']:.2f}, {best['step']}) |"
        )
    for ref in results["reference"]:
        lines.append(
            f"| pi_ref (SFT) | - | {ref['seed']} | 0 | {with_interval(ref, 'reward', 3, '+')} | 0 | 0 | "
            f"{ref['finished']:.2f} | - |"
        )
    for b in results["best_of_n"]:
        lines.append(
            f"| best-of-N (oracle) | N={b['n']} | {b['seed']} | 0 | {with_interval(b, 'reward', 3, '+')} | "
            f"{b['kl']:.2f} (analytic) | - | - | - |"
        )
    lines.append("")
    for check in results["checks"]:
        for name, outcome in check.items():
            if name != "seed":
                low, high = outcome["interval"]
                verdict = "0 inside" if outcome["zero_inside"] else "0 OUTSIDE"
                lines.append(
                    f"- seed {check['seed']}, {name.replace('_', ' ')}: difference {outcome['difference']:+.4f}, "
                    f"paired 95% interval [{low:+.4f}, {high:+.4f}]: {verdict}"
                )
    if "matched" in results:
        lines += ["", *matched_table(results["matched"])]
    effect = results["design_effect"]
    for value in ("reward", "kl"):
        e = effect[value]
        lines.append(
            f"- {value} of {effect['point']}: clustered half-width {e['clustered_half_width']:.4f}, naive "
            f"1.96 sd/sqrt(n) {e['naive_half_width']:.4f}, design effect {e['design_effect'] or float('nan'):.2f}"
        )
    return "\n".join(lines) + "\n"


def matched_table(matched: dict) -> list[str]:
    """Markdown lines: each family's reward at each KL budget with its interval, then the differences whose
    interval excludes 0."""
    budgets = matched["budgets"]
    lines = [
        "| family (runs) | " + " | ".join(f"reward at {b:g} nats [95%]" for b in budgets) + " |",
        "|---|" + "---:|" * len(budgets),
    ]
    for family, entry in matched["families"].items():
        cells = [
            "not reached"
            if r["reward"] is None
            else f"{r['reward']:+.3f} [{r['interval'][0]:+.3f}, {r['interval'][1]:+.3f}]"
            for r in entry["reward"]
        ]
        lines.append(f"| {family} ({entry['runs']}) | " + " | ".join(cells) + " |")
    lines += ["", "Differences at matched KL whose 95% interval excludes 0 (paired over resampled prompts):", ""]
    for d in matched["differences"]:
        if not d["zero_inside"]:
            low, high = d["interval"]
            lines.append(
                f"- at {d['budget']:g} nats, {d['first']} - {d['second']}: {d['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
            )
    return lines
