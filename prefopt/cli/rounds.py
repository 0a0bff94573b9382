"""``prefopt rounds CONFIG [key=value ...] [--resume]``: train in rounds on fresh samples of the current policy.

CONFIG is a rounds configuration (docs/rounds.md); ``key=value`` overrides apply to it (``train.*`` to each
round's training settings). ``--resume`` continues the run in ``output_dir`` at the round and step where it stopped.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rounds", help="train in rounds: sample, score, rank, train; repeat")
    parser.add_argument(
        "items", nargs="*", metavar="[CONFIG] [key=value ...]", help="a YAML rounds configuration, then overrides"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir where it stopped")
    parser.set_defaults(handler=rounds_command)


def rounds_command(args: argparse.Namespace) -> int:
    # imported here, as every subcommand does, so that the command line starts without loading transformers
    from prefopt.iterative import load_rounds_config, rounds

    items = list(args.items)
    path = items.pop(0) if items and "=" not in items[0] else None
    rounds(load_rounds_config(path, items), resume=args.resume)
    return 0
