"""``prefopt scorers``: every registered scorer with its provider and summary, then those that cannot be used."""

from __future__ import annotations

import argparse

from prefopt.registry import RegistryError
from prefopt.scoring import registry, scorer_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scorers", help="list the registered scorers")
    parser.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    rows, problems = [("NAME", "PROVIDER", "SUMMARY")], []
    for name, factory in registry.items():
        if isinstance(factory, RegistryError):
            problems.append((name, factory))
        else:
            rows.append((name, str(registry.provider(name)), scorer_summary(factory)))
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    for name, provider, summary in rows:
        print(f"{name.ljust(widths[0])}  {provider.ljust(widths[1])}  {summary}")
    if problems:
        print(f"\nproblems ({len(problems)}):")
        for name, error in problems:
            print(f"  {name}: {error}")
    return 0
