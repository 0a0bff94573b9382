"""``prefopt verify NAME``: run the theory checks of :mod:`prefopt.verify` on a registered loss;
``prefopt verify --list``: the installed properties with their distributions.

Properties come from the entry-point group ``prefopt.properties``, built-ins first; each block of the output names
the distribution that provides its properties, and a property module that failed to load is listed under
problems while the other properties run.
"""

from __future__ import annotations

import argparse
import sys

from prefopt.config import ConfigError, parse_overrides
from prefopt.losses import LossOptionsError, get_loss, registry
from prefopt.registry import RegistryError
from prefopt.verify import PropertyResult, ProvidedProperty, check_loss, list_properties, property_problems


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check a loss against the properties its declarations claim")
    parser.add_argument("name", nargs="?", help="registered loss name")
    parser.add_argument("--list", action="store_true", help="list the installed properties and their distributions")
    parser.add_argument(
        "--max-examples", type=positive_int, default=100, help="hypothesis examples per property (100)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the search and of the bandit samples (0)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a loss option (value read as YAML), e.g. --option beta=0.5; repeatable",
    )
    parser.set_defaults(handler=verify_command)


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0 (argparse reports anything else as a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def verify_command(args: argparse.Namespace) -> int:
    """Exit 0 when every applicable property holds, 1 when one fails or a property module cannot be loaded, 2 for
    an unknown loss or bad option. With ``--list``: the properties, and exit 1 when a module cannot be loaded."""
    installed = list_properties()
    if args.list:
        for line in property_lines(installed, {}):
            print(line)
        return report_problems()
    if args.name is None:
        print("prefopt verify: give a registered loss name, or --list", file=sys.stderr)
        return 2
    try:
        options = dict(parse_overrides(args.option))
        loss = get_loss(args.name, **options)
    except (RegistryError, LossOptionsError, ConfigError) as error:
        print(f"prefopt verify: {error}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{key}={value!r}" for key, value in loss.options.model_dump().items()) or "none"
    print(f"verify {loss.name} from {registry.provider(loss.name)} (options: {shown})")
    results = check_loss(loss, max_examples=args.max_examples, seed=args.seed)
    by_name = {result.name: result for result in results}
    for line in property_lines(installed, by_name):
        print(line)
    problems = report_problems()
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] or problems else 0


def property_lines(installed: list[ProvidedProperty], results: dict[str, PropertyResult]) -> list[str]:
    """A heading per distribution, then one line per property: its status when ``results`` holds one, its name,
    and the reason it was skipped or its statement; a failure's counterexample follows, indented."""
    width = max((len(item.property.name) for item in installed), default=0)
    lines, provider = [], None
    for item in installed:
        if item.provider != provider:
            provider = item.provider
            lines.append(f"properties from {provider}:")
        result = results.get(item.property.name)
        status = f"{result.status}  " if result is not None else "  "
        detail = result.skipped_reason if result is not None and result.skipped else item.property.statement
        lines.append(f"{status}{item.property.name.ljust(width)}  {detail}")
        if result is not None and result.failed:
            lines += [f"      {line}" for line in result.counterexample.splitlines()]
    return lines


def report_problems() -> int:
    """Print the property modules that cannot be used; 1 when there are some (the check is incomplete), else 0."""
    problems = property_problems()
    if problems:
        print(f"problems ({len(problems)}), whose properties were not run:")
        for problem in problems:
            print(f"  {problem.name}: {problem.error}")
    return 1 if problems else 0
