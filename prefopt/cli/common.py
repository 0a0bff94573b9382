"""Helpers shared by the subcommands that read a run configuration.

The bundled quickstart settings apply only to the bundled data: without a CONFIG file and without ``data.path``
the quickstart runs (overrides layered on ``prefopt/configs/quickstart.yaml``); with a CONFIG file or
``data.path``, every setting not given takes its documented default (the DPO paper's).
"""

from __future__ import annotations

import argparse
from importlib import resources

from prefopt.config import RunConfig, load_config, parse_overrides

QUICKSTART = "quickstart.yaml"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="*",
        metavar="[CONFIG] [key=value ...]",
        help=(
            "a YAML configuration followed by key=value overrides; with neither a CONFIG nor data.path, the "
            "bundled quickstart (its data and settings)"
        ),
    )


def runs_quickstart(items: list[str]) -> bool:
    """Whether ``[CONFIG] [key=value ...]`` runs the bundled quickstart: no CONFIG file and no ``data.path``."""
    if items and "=" not in items[0]:
        return False
    return all(key != "data.path" for key, _ in parse_overrides(items))


def config_from_arguments(items: list[str]) -> RunConfig:
    """``[CONFIG] [key=value ...]``: a file first unless it contains '=', then overrides; layered on the bundled
    quickstart file when :func:`runs_quickstart`, else on the defaults."""
    path, overrides = None, list(items)
    if overrides and "=" not in overrides[0]:
        path = overrides.pop(0)
    if runs_quickstart(items):
        with resources.as_file(resources.files("prefopt") / "configs" / QUICKSTART) as bundled:
            return load_config(bundled, overrides)
    return load_config(path, overrides)
