"""The ``prefopt`` command line: ``train``, ``eval``, ``losses``, ``verify``, ``cache``, ``plot``, ``sample``,
``score``, ``scorers``, ``rounds``.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its parser and sets
``handler`` (a function of the parsed arguments returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

EXIT_STORAGE = 4  # a write failed or cannot happen: full disk, no permission (docs/reliability.md lists every code)

SUBCOMMANDS = ("train", "eval", "losses", "verify", "cache", "plot", "sample", "score", "scorers", "rounds")


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
    from prefopt.model.load import ModelPathError
    from prefopt.plots import PlotError
    from prefopt.reference import ReferenceCacheError
    from prefopt.registry import RegistryError
    from prefopt.scoring import ScorerError

    return (
        ConfigError,
        PreferenceDataError,
        LossOptionsError,
        LossContractError,
        RegistryError,
        ModelPathError,
        ReferenceCacheError,
        PlotError,
        ScorerError,
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    )


_PATH_PROBLEMS = {
    FileExistsError: "exists and is not a directory, where a directory is needed",
    NotADirectoryError: "a part of this path is a file, where a directory is needed",
    IsADirectoryError: "is a directory, where a file is needed",
    PermissionError: "permission denied",
}


def describe(error: BaseException) -> str:
    """The one-line message of a user error; an operating-system error on a path the user gave names the path
    and the problem in words."""
    problem = _PATH_PROBLEMS.get(type(error))
    if isinstance(error, OSError) and error.filename is not None and problem is not None:
        return f"{error.filename}: {problem}"
    return str(error)


def is_main_process() -> bool:
    """Whether this process speaks for the run: the only one, or rank 0 of a launch (``torchrun``,
    ``accelerate launch``), read from the launcher's ``RANK`` (else ``LOCAL_RANK``) without starting anything."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a mistake in the input is one message on stderr (from rank 0 alone when several
    processes run, which all see the same input) and exit status 2 on every process; a directory that cannot be
    written or a write that failed (a full disk, no permission) is one message naming the path and the free
    space, and exit status 4."""
    from prefopt.storage import StorageError

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.handler(args) or 0)
    except StorageError as error:
        if is_main_process():
            print(f"prefopt {args.command}: {error}", file=sys.stderr)
        return EXIT_STORAGE
    except _user_errors() as error:
        if is_main_process():
            print(f"prefopt {args.command}: {describe(error)}{_way_out(error)}", file=sys.stderr)
        return 2


def _way_out(error: BaseException) -> str:
    """For a bad row or a truncated file met with ``data.on_error=raise``: how to go on without it."""
    from prefopt.data.errors import TRUNCATED, PreferenceDataError

    if not isinstance(error, PreferenceDataError):
        return ""
    if error.reason == TRUNCATED:
        return "; set data.on_error=skip to use the rows read before the truncation"
    if error.row is not None:
        return "; set data.on_error=skip to skip such rows and count them"
    return ""
