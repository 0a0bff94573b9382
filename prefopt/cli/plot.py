"""``prefopt plot RUN_DIR [RUN_DIR ...] [--out DIR]``: PNG curves of one run, or of several runs on one figure."""

from __future__ import annotations

import argparse
from pathlib import Path

PLOTS_DIR = "plots"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw the training and held-out curves of runs as PNG files (needs prefopt[plot])",
        description=(
            "Draw loss, accuracy, margin, rewards and log-probs per rank, Kendall tau (K > 2), learning rate and "
            "gradient norm from each RUN_DIR's metrics.jsonl; several runs share each figure."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="output directory of prefopt train")
    parser.add_argument(
        "--out", type=Path, default=None, help="where the PNGs go; default RUN_DIR/plots (needed for several runs)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from prefopt.plots import PlotError, write_plots

    out = args.out
    if out is None:
        if len(args.runs) > 1:
            raise PlotError(f"{len(args.runs)} runs share each figure; say where they go with --out DIR")
        out = args.runs[0] / PLOTS_DIR
    for path in write_plots(args.runs, out):
        print(path)
    return 0
