"""``prefopt verify NAME``: run the theory checks of :mod:`prefopt.verify` on a registered loss."""

from __future__ import annotations

import argparse
import sys

from prefopt.config import ConfigError, parse_overrides
from prefopt.losses import LossOptionsError, get_loss, registry
from prefopt.registry import RegistryError
from prefopt.verify import PROPERTIES, check_loss


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check a loss against the properties its declarations claim")
    parser.add_argument("name", help="registered loss name")
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
    """Exit 0 when every applicable property holds, 1 when one fails, 2 for an unknown loss or bad option."""
    try:
        options = dict(parse_overrides(args.option))
        loss = get_loss(args.name, **options)
    except (RegistryError, LossOptionsError, ConfigError) as error:
        print(f"prefopt verify: {error}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{key}={value!r}" for key, value in loss.options.model_dump().items()) or "none"
    print(f"verify {loss.name} from {registry.provider(loss.name)} (options: {shown})")
    results = check_loss(loss, max_examples=args.max_examples, seed=args.seed)
    width = max(len(name) for name in PROPERTIES)
    for result in results:
        detail = result.skipped_reason if result.skipped else PROPERTIES[result.name].statement
        print(f"{result.status}  {result.name.ljust(width)}  {detail}")
        if result.failed:
            for line in result.counterexample.splitlines():
                print(f"      {line}")
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0
