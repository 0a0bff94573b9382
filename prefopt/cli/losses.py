"""``prefopt losses`` (every registered loss, then the names that cannot be used) and ``prefopt losses show NAME``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from prefopt.losses.catalogue import LossInfo, describe, list_losses, loss_problems, registry
from prefopt.registry import RegistryError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("losses", help="list the registered losses, or show one")
    parser.set_defaults(handler=list_command)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="a loss's documentation, options, declarations and provider")
    show.add_argument("name", help="registered loss name")
    show.set_defaults(handler=show_command)


def table(infos: list[LossInfo]) -> list[str]:
    """One line per loss: name, kind, whether it needs pi_ref, provider, summary."""
    rows = [("NAME", "KIND", "REFERENCE", "PROVIDER", "SUMMARY")]
    rows += [
        (i.name, i.kind, "yes" if i.declarations.needs_reference else "no", str(i.provider), i.summary) for i in infos
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]]) for row in rows]


def list_command(args: argparse.Namespace) -> int:
    for line in table(list_losses()):
        print(line)
    problems = loss_problems()
    if problems:
        print(f"\nproblems ({len(problems)}):")
        for problem in problems:
            print(f"  {problem.name}: {problem.error}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    try:
        info = describe(registry.get(args.name), registry.provider(args.name))
    except RegistryError as error:
        print(f"prefopt losses show: {error}", file=sys.stderr)
        return 2
    print(f"{info.name} ({info.kind}) from {info.provider}\n")
    print(info.doc or info.summary)
    print("\noptions:")
    for option, field_info in registry.get(args.name).options.model_fields.items():
        description = f"  {field_info.description}" if field_info.description else ""
        print(f"  {option} = {info.options[option]!r}{description}")
    if not info.options:
        print("  (none)")
    print("\ndeclarations (default options):")
    for item in fields(info.declarations):
        print(f"  {item.name}: {getattr(info.declarations, item.name)}")
    return 0
