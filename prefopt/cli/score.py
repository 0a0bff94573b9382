"""``prefopt score SAMPLES --scorer NAME [--option key=value ...] --out FILE``: scored K-way records.

The output rows gain ``"scores"`` and are read by ``prefopt train`` as the ``scored`` format (ties stay ties); other
keys, such as ``prefopt sample``'s ``finished``, are kept. Empty responses and prompts whose scores all tie are
counted in warnings on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefopt.config import parse_overrides
from prefopt.scoring import build_scorer, score_file
from prefopt.scoring.records import scoring_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score sampled completions with a scorer plugin")
    parser.add_argument("samples", type=Path, help="JSON Lines rows with 'prompt' and 'responses' (prefopt sample)")
    parser.add_argument("--scorer", required=True, help="registered scorer name (see prefopt scorers)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scorer option, value read as YAML (repeatable), e.g. --option path=models/classifier",
    )
    parser.add_argument("--out", type=Path, required=True, help="output JSON Lines file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=score_command)


def score_command(args: argparse.Namespace) -> int:
    options = dict(parse_overrides(args.option))
    scorer = build_scorer(args.scorer, **options)
    rows = score_file(args.samples, args.out, scorer, progress=not args.no_progress)
    print(f"scored {len(rows)} prompts with {args.scorer} into {args.out}")
    for warning in scoring_warnings(rows):
        print(f"prefopt score: warning: {warning}", file=sys.stderr)
    return 0
