"""The rounds experiment's plot (every arm's policy after each round on the reward-KL plane, with pi_ref and
best-of-N, as the sentiment experiment draws them) and Markdown tables (every round's point; the contrasts; the
reward at matched KL)."""

from __future__ import annotations

from pathlib import Path

from prefopt.experiments.sentiment.report import matched_table, plot_frontier, with_interval

COLOURS = {
    "plackett_luce": "tab:red",
    "dpo all pairs": "tab:blue",
    "dpo best vs worst": "tab:cyan",
    "moving ref": "tab:purple",
}


def arm_colours(results: dict) -> dict[str, str]:
    """A colour per family: its loss's colour; offline arms and moving references in their own shades."""
    colours = {}
    for run in results["runs"]:
        family = run["family"]
        loss = next(name for name in COLOURS if family.startswith(name))
        colours[family] = COLOURS["moving ref"] if "moving" in family else COLOURS[loss]
        if "pi_ref samples" in family:
            colours[family] = "tab:orange"
        if family.endswith("offline"):
            colours[family] = {"tab:red": "tab:pink", "tab:blue": "tab:gray"}.get(colours[family], "tab:brown")
    return colours


def plot(results: dict, path: Path) -> None:
    """The frontier of every arm's rounds (a line through its rounds; an offline arm is one point)."""
    title = f"IMDb sentiment, {Path(results['model']).name}: training in rounds vs offline, reward vs KL"
    plot_frontier(results, path, title, arm_colours(results))


def _contrast(outcome: dict, digits: int) -> str:
    low, high = outcome["interval"]
    mark = "" if outcome["zero_inside"] else " *"
    return f"{outcome['difference']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]{mark}"


def table(results: dict) -> str:
    """Markdown: every arm, seed and round; pi_ref and best-of-N; the contrasts (``*``: 0 outside the 95%
    interval); every arm's and best-of-N's reward at matched KL."""
    lines = [
        "| arm | seed | round | steps | reward [95%] | KL [95%] | KL at EOS | finished | fresh samples' score | "
        "seconds: sampling / training (its evaluations included) / this evaluation |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for p in run["points"]:
            seconds = p["seconds"]
            lines.append(
                f"| {run['name']} | {run['seed']} | {p['round']} | {p['step']} | {with_interval(p, 'reward', 3, '+')} | "
                f"{with_interval(p, 'kl', 2)} | {p['kl_eos']:.2f} | {p['finished']:.2f} | "
                f"{p['fresh_samples_score']['mean']:+.3f} | "
                f"{seconds.get('sampling', 0):.0f} / {seconds.get('training', 0):.0f} / {p['evaluation_seconds']:.0f} |"
            )
    for ref in results["reference"]:
        lines.append(
            f"| pi_ref (SFT) | {ref['seed']} | 0 | 0 | {with_interval(ref, 'reward', 3, '+')} | 0 | 0 | "
            f"{ref['finished']:.2f} | - | - |"
        )
    for b in results["best_of_n"]:
        lines.append(
            f"| best-of-{b['n']} (oracle) | {b['seed']} | 0 | 0 | {with_interval(b, 'reward', 3, '+')} | "
            f"{b['kl']:.2f} (analytic) | - | - | - | - |"
        )
    seeds = results["seeds"]
    lines += [
        "",
        "| contrast of the last policies | reward, pooled | KL, pooled | "
        + " | ".join(f"reward, seed {s}" for s in seeds)
        + " |",
        "|---|---:|---:|" + "---:|" * len(seeds),
    ]
    for entry in results["contrasts"]:
        weights = " ".join(f"{'+' if w > 0 else '-'} {name}" for name, w in entry["weights"].items())
        per_seed = " | ".join(_contrast(entry["reward"]["per_seed"][str(s)], 3) for s in seeds)
        lines.append(
            f"| {entry['question']} ({weights}) | {_contrast(entry['reward']['pooled'], 3)} | "
            f"{_contrast(entry['kl']['pooled'], 2)} | {per_seed} |"
        )
    lines += ["", *matched_table(results["matched"])]
    return "\n".join(lines) + "\n"
