"""The reference log-prob cache against a live reference model, on the first N rows of HH-RLHF helpful-base.

Three runs of the same configuration, each in a fresh Python process (so each peak resident set size is that
run's own, read with ``getrusage(RUSAGE_SELF).ru_maxrss`` at its end):

- ``cache, miss``: empty cache directory; the reference pass runs once over train + held-out and writes the file;
- ``cache, hit``: the same again; the file is loaded and verified, no reference model is built;
- ``live``: ``reference.cache=false``; a frozen copy of the model computes reference log-probs every step.

Per run: the time spent getting reference log-probs ready (fingerprint + pass + write, fingerprint + load, or
building the frozen copy), the whole set-up, the median time of an optimizer step over the same ``--steps``
steps (same seed, same batches; held-out evaluation is not run), the peak RSS and the RSS after imports. The
training losses of the runs must agree: the cached values come from other batch compositions than the live
ones, so they match up to float rounding.

Without the HH-RLHF file (``--hh``) the bundled generated data is used instead, and the output says so.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import hh_rows, machine, table, time_calls


def worker(overrides: list[str]) -> None:
    """One run in this process; prints a JSON line of its measurements."""
    import psutil

    import prefopt.engine.loop as loop
    from prefopt.cli.common import config_from_arguments

    imported = psutil.Process().memory_info().rss
    timings = {}
    time_calls(loop, "reference_log_probs", timings)
    start = time.perf_counter()
    trainer = loop.Trainer.from_config(config_from_arguments(overrides))
    setup = time.perf_counter() - start
    step_times, losses = [], []
    for step in range(trainer.steps):
        start = time.perf_counter()
        losses.append(trainer.train_step(step)["loss"])
        step_times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    record = {
        "reference": timings["reference_log_probs"],
        "setup": setup,
        "steps": step_times,
        "losses": losses,
        "peak": peak,
        "imported": imported,
        "weights": sum(p.numel() * p.element_size() for p in trainer.model.parameters()),
        "examples": len(trainer.splits.train),
    }
    print(json.dumps(record))


def run_worker(overrides: list[str]) -> dict:
    command = [sys.executable, __file__, "--worker", *overrides]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=256, help="first N rows of the data (default 256)")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per run (default 6)")
    parser.add_argument("--preset", choices=["tiny", "small"], default="small", help="model preset (default small)")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per optimizer step (default 16)")
    parser.add_argument("--hh", type=Path, help="an HH-RLHF test.jsonl.gz (helpful-base test split)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args()  # the rest: key=value configuration overrides
    if args.worker:
        return worker(overrides)

    print(machine())
    with tempfile.TemporaryDirectory() as scratch:
        lines = hh_rows(args.hh, args.examples)
        if lines is None:
            print(f"{args.hh} not found: using {args.examples} generated quickstart examples instead")
            data = f"data.quickstart_size={args.examples}"
        else:
            Path(scratch, "hh.jsonl").write_text("".join(lines))
            data = f"data.path={scratch}/hh.jsonl"
        common = [
            data,
            "model.tokenizer=bytes",
            f"model.preset={args.preset}",
            "data.on_error=skip",
            "data.max_length=256",
            "data.max_prompt_length=128",
            f"optim.batch_size={args.batch_size}",
            "optim.micro_batch_size=8",
            f"optim.max_steps={args.steps}",
            "optim.optimizer=adamw",
            "optim.lr=1e-4",
            "optim.warmup_steps=0",
            "logging.progress=false",
            f"logging.output_dir={scratch}/run",
            f"reference.cache_dir={scratch}/cache",
            *overrides,
        ]
        runs = {}
        for name, mode in [("cache, miss", "true"), ("cache, hit", "true"), ("live", "false")]:
            runs[name] = run_worker([*common, f"reference.cache={mode}"])
            print(f"{name}: done", flush=True)
        cache_bytes = sum(path.stat().st_size for path in Path(scratch, "cache").glob("*.safetensors"))

    mib = 2**20
    rows = [
        [
            name,
            r["reference"],
            r["setup"],
            1000 * statistics.median(r["steps"]),
            1000 * min(r["steps"]),
            r["peak"] / mib,
            r["imported"] / mib,
            r["losses"][-1],
        ]
        for name, r in runs.items()
    ]
    headers = [
        "run",
        "reference s",
        "set-up s",
        "ms/step median",
        "ms/step min",
        "peak RSS MiB",
        "RSS after imports MiB",
        "last loss",
    ]
    print(
        f"{runs['live']['examples']} training examples, {args.steps} steps of {args.batch_size} prompts, "
        f"preset {args.preset} ({runs['live']['weights'] / mib:.1f} MiB of weights); cache file {cache_bytes / 1024:.1f} KiB"
    )
    print(table(headers, rows))
    for name in ("cache, hit", "live"):
        diff = max(abs(a - b) for a, b in zip(runs["cache, miss"]["losses"], runs[name]["losses"], strict=True))
        print(f"max |loss(cache, miss) - loss({name})| over {args.steps} steps: {diff:.3g}")
    print(machine())


if __name__ == "__main__":
    main()
