"""``prefopt eval [CONFIG] [key=value ...]``: preference accuracy and margins of a model on a dataset.

A prefopt-trained ``final/`` directory records the run's resolved configuration. Evaluating it without a CONFIG
file starts from that configuration instead of the bundled quickstart (so the data and tokenisation settings are
the run's), with the command line's ``key=value`` overrides on top; its reference is the one the run was trained
against (:mod:`prefopt.run.evaluation`).
"""

from __future__ import annotations

import argparse
import json

from prefopt.cli.common import add_config_arguments, config_from_arguments
from prefopt.cli.report import headline, held_out_lines, with_error
from prefopt.config import load_config
from prefopt.run.directory import recorded_config_file
from prefopt.run.evaluation import EvaluationSetup, evaluation_reference


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="preference accuracy and margins of model.path against model.reference_path",
        description=(
            "Evaluate model.path on every example of data.eval_path (or data.path) with the configured loss's "
            "implicit rewards; reference-based losses compare against model.reference_path. A final/ directory "
            "of a prefopt run is evaluated with the settings recorded in its prefopt.yaml (under the command "
            "line's overrides) and against the reference it was trained against."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(handler=run)


def evaluation_setup(items: list[str]) -> EvaluationSetup:
    """The configuration and reference of ``prefopt eval [CONFIG] [key=value ...]`` (see the module docstring).

    Raises:
        ConfigError: an invalid configuration, command line or recorded ``prefopt.yaml``.
    """
    config = config_from_arguments(items)
    recorded_file = recorded_config_file(config.model.path)
    if recorded_file is None or (items and "=" not in items[0]):
        return evaluation_reference(config)
    # no CONFIG file: the run's settings, then the overrides
    config = load_config(recorded_file, items)
    return evaluation_reference(config, [f"configuration: recorded in {recorded_file}, with the command line's overrides"])


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from prefopt.api import evaluate_setup  # heavy imports only when evaluating

    setup = evaluation_setup(args.items)
    metrics, note = evaluate_setup(setup, trained_note=True)
    state = PartialState()
    if args.json:
        state.print(json.dumps(metrics))
        return 0
    lines = held_out_lines([("value", metrics)], what="evaluated", more="a larger data.eval_path gives tighter ones")
    shown = {"examples", "trained_examples", *headline(metrics)}
    others = [name for name in metrics if name not in shown and not name.endswith("_se")]
    lines += ["other metrics:", *(f"  {name:<26} {with_error(metrics, name)}" for name in others)]
    state.print("\n".join([*lines, note] if note else lines))
    return 0
