"""The ``prefopt`` command line: ``train``, ``eval``, ``losses``, ``verify``, ``cache``.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its parser and sets
``handler`` (a function of the parsed arguments returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("train", "eval", "losses", "verify", "cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prefopt", description="Preference optimisation without RL (DPO family).")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"prefopt.cli.{name}").register(subparsers)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that describe a problem with the user's input: printed as one message, without a traceback."""
    from prefopt.config import ConfigError
    from prefopt.data.errors import PreferenceDataError
    from prefopt.losses import LossContractError, LossOptionsError
    from prefopt.registry import RegistryError

    return ConfigError, PreferenceDataError, LossOptionsError, LossContractError, RegistryError, FileNotFoundError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.handler(args) or 0)
    except _user_errors() as error:
        print(f"prefopt {args.command}: {error}{_way_out(error)}", file=sys.stderr)
        return 2


def _way_out(error: BaseException) -> str:
    """For a bad row met with ``data.on_error=raise``: how to go on without it."""
    from prefopt.data.errors import PreferenceDataError

    if isinstance(error, PreferenceDataError) and error.row is not None:
        return "; set data.on_error=skip to skip such rows and count them"
    return ""
