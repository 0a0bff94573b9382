"""``prefopt train [CONFIG] [key=value ...] [--resume]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prefopt.cli.common import add_config_arguments, config_from_arguments
from prefopt.cli.report import held_out_lines

EXIT_DIVERGED = 3  # a non-finite loss, gradient or weight during training (1: a crash, 2: a mistake in the input)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy on preference data",
        description="Train a causal LM on preference data. With no CONFIG the bundled quickstart runs.",
    )
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.set_defaults(handler=run)


def format_report(
    initial: dict[str, float], final: dict[str, float], steps: int, model_path: Path, plots: Sequence[Path] = ()
) -> str:
    """The end report: where the model is, held-out metrics before and after with their standard errors and the
    number of held-out examples (:func:`prefopt.cli.report.held_out_lines`), and the PNG files when written."""
    lines = held_out_lines([("before", initial), ("after", final)]) if final else ["no held-out examples"]
    if plots:
        lines.append(f"plots in {Path(plots[0]).parent}: {', '.join(Path(p).name for p in plots)}")
    return "\n".join([f"trained {steps} steps; final model in {model_path}", *lines])


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from prefopt.api import TrainingDiverged, train  # heavy imports only when training

    config = config_from_arguments(args.items)
    try:
        result = train(config, resume=args.resume)
    except TrainingDiverged as error:
        print(f"prefopt train: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    PartialState().print(
        format_report(result.initial_metrics, result.final_metrics, result.steps, result.model_path, result.plots)
    )
    return 0
