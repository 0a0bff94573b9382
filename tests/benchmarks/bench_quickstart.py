"""Wall time of the default job (``prefopt train`` with the bundled quickstart configuration).

Each run starts from nothing in a temporary directory (fresh output and reference-cache directories), so it pays
for everything a first ``prefopt train`` pays for. Measured per run:

- set-up: constructing the trainer, i.e. generating and tokenising the data, building the model and computing
  the reference cache (a miss every time);
- training: ``Trainer.run()``, i.e. every optimizer step plus the held-out evaluations (before, every
  ``eval_every`` steps, after) and the final save; steps/s is steps over this time;
- held-out preference accuracy before and after training;
- the 1-minute load average at the end of the run: other processes on a small machine slow a run down a lot.

``Trainer.from_config(config).run()`` is exactly what ``prefopt.train`` does; it is split here to time the parts.
Extra ``key=value`` arguments override the configuration as on the command line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from benchlib import machine, table

from prefopt.cli.common import config_from_arguments
from prefopt.engine.loop import Trainer


def one_run(overrides: list[str]) -> list:
    with tempfile.TemporaryDirectory() as scratch:
        config = config_from_arguments(
            [
                f"logging.output_dir={scratch}/run",
                f"reference.cache_dir={scratch}/cache",
                "logging.progress=false",
                *overrides,
            ]
        )
        start = time.perf_counter()
        trainer = Trainer.from_config(config)
        setup = time.perf_counter() - start
        result = trainer.run()
        training = time.perf_counter() - start - setup
    return [
        setup,
        training,
        setup + training,
        result.steps,
        result.steps / training,
        result.initial_eval["accuracy"],
        result.final_eval["accuracy"],
        os.getloadavg()[0],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="number of complete runs (default 3)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="configuration overrides")
    args = parser.parse_args()
    print(machine())
    rows = []
    for run in range(1, args.runs + 1):
        rows.append([run, *one_run(args.overrides)])
        print(f"run {run} done in {rows[-1][3]:.1f} s", flush=True)
    means = ["mean", *(statistics.mean(row[i] for row in rows) for i in range(1, len(rows[0])))]
    headers = ["run", "set-up s", "training s", "total s", "steps", "steps/s", "acc before", "acc after", "load 1 min"]
    print(table(headers, [*rows, means]))
    print(machine())


if __name__ == "__main__":
    main()
