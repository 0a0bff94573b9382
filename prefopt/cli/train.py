"""``prefopt train [CONFIG] [key=value ...] [--resume]``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel

from prefopt.cli.common import add_config_arguments, config_from_arguments
from prefopt.cli.report import held_out_lines

EXIT_DIVERGED = 3  # a non-finite loss, gradient or weight during training (1: a crash, 2: a mistake in the input)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy on preference data",
        description="Train a causal LM on preference data. With no CONFIG the bundled quickstart runs.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="with --resume: continue even if the data, tokenizer, model or loss changed since the run began",
    )
    parser.set_defaults(handler=run)


def settings_help(width: int = 100) -> str:
    """Every section of :class:`~prefopt.config.RunConfig` with its keys and their defaults, read from the model's
    fields, for ``prefopt train --help``."""
    from prefopt.config import RunConfig

    intro = (
        "settings, as section.key=value or in CONFIG, with their defaults (the bundled quickstart sets some others "
        "when neither CONFIG nor data.path is given):"
    )
    lines = [textwrap.fill(intro, width)]
    for name, field in RunConfig.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            keys = [f"{key}={_yaml(getattr(default, key))}" for key in type(default).model_fields]
            lines.append(textwrap.fill(" ".join(keys), width, initial_indent=f"  {name}: ", subsequent_indent="    "))
        else:
            lines.append(f"  {name}={_yaml(default)}" + (f"  ({field.description})" if field.description else ""))
    lines.append(
        "each key's meaning and valid values: docs/configuration.md; the losses and their options: prefopt losses"
    )
    return "\n".join(lines)


def _yaml(value: object) -> str:
    """``value`` as it is written on the command line (YAML): ``null``, ``true``, ``1.0e-06``, ``{name: dpo}``."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


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
        result = train(config, resume=args.resume, allow_changed_data=args.allow_changed_data)
    except TrainingDiverged as error:
        print(f"prefopt train: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    PartialState().print(
        format_report(result.initial_metrics, result.final_metrics, result.steps, result.model_path, result.plots)
    )
    return 0
