"""Helpers shared by the subcommands that read a run configuration."""

from __future__ import annotations

import argparse
from importlib import resources

from prefopt.config import RunConfig, load_config

QUICKSTART = "quickstart.yaml"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="*",
        metavar="[CONFIG] [key=value ...]",
        help="a YAML configuration (default: the bundled quickstart) followed by key=value overrides",
    )


def config_from_arguments(items: list[str]) -> RunConfig:
    """``[CONFIG] [key=value ...]``: a file first unless it contains '=', then overrides."""
    path, overrides = None, list(items)
    if overrides and "=" not in overrides[0]:
        path = overrides.pop(0)
    if path is None:
        with resources.as_file(resources.files("prefopt") / "configs" / QUICKSTART) as bundled:
            return load_config(bundled, overrides)
    return load_config(path, overrides)
