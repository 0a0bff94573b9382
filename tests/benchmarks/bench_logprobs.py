"""Peak memory and time of ``token_logprobs`` against the naive float32 log-softmax, on bf16 logits.

For logits (N, R, V) in bfloat16 and targets (N, R):

- ``token_logprobs`` (prefopt.model.logprobs): the gathered logit minus a float32 logsumexp taken over chunks of
  at most ``_LOGSUMEXP_CHUNK`` positions of one sequence;
- ``naive``: ``logits.float().log_softmax(-1).gather(-1, targets[..., None])``.

Torch allocations are invisible to tracemalloc, so each measurement runs in a fresh process: the logits are made
in place (``torch.empty(...).normal_()``, no temporaries), then the extra memory of one call is its peak RSS
(``ru_maxrss``) minus the RSS just before it. The expected extra memory is printed beside it, counted from
the float32 tensors each method holds at once: the float32 copy plus one temporary of the same size
(``logsumexp`` materialises ``(x - max).exp()``; ``log_softmax`` writes its output). Time is the median of
``--repeats`` calls after the measured one. Agreement is checked on the same logits against a float64
log-softmax.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from benchlib import machine, table

METHODS = ("token_logprobs", "naive")


def make_inputs(rows: int, length: int, vocab: int):
    import torch

    torch.manual_seed(0)
    logits = torch.empty(rows, length, vocab, dtype=torch.bfloat16).normal_(0.0, 4.0)
    targets = torch.randint(vocab, (rows, length))
    return logits, targets


def method(name: str):
    from prefopt.model.logprobs import token_logprobs

    def naive(logits, targets):
        return logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    return {"token_logprobs": token_logprobs, "naive": naive}[name]


def worker(name: str, rows: int, length: int, vocab: int, repeats: int) -> dict:
    """Extra peak RSS of the first call and the median time of ``repeats`` more, in this (fresh) process."""
    import psutil

    logits, targets = make_inputs(rows, length, vocab)
    function = method(name)
    before = psutil.Process().memory_info().rss
    function(logits, targets)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(logits, targets)
        times.append(time.perf_counter() - start)
    return {"extra": peak - before, "seconds": statistics.median(times)}


def agreement(rows: int, length: int, vocab: int) -> dict:
    """Max absolute differences between the methods and a float64 log-softmax."""
    import torch

    logits, targets = make_inputs(rows, length, vocab)
    exact = torch.cat(
        [
            row.double().log_softmax(-1).gather(-1, t.unsqueeze(-1)).squeeze(-1)
            for row, t in zip(logits.split(1), targets.split(1), strict=True)
        ]
    )
    fast, naive = method("token_logprobs")(logits, targets), method("naive")(logits, targets)
    return {
        "token_logprobs - naive": float((fast - naive).abs().max()),
        "token_logprobs - float64": float((fast.double() - exact).abs().max()),
        "naive - float64": float((naive.double() - exact).abs().max()),
        "float64 log-prob": float(exact.abs().max()),
    }


def in_subprocess(*args) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def expected_extra(name: str, rows: int, length: int, vocab: int) -> int:
    from prefopt.model.logprobs import _LOGSUMEXP_CHUNK

    positions = min(length, _LOGSUMEXP_CHUNK) if name == "token_logprobs" else rows * length
    return 2 * positions * vocab * 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[8, 16], help="N values (default 8 16)")
    parser.add_argument("--length", type=int, default=256, help="R, response tokens (default 256)")
    parser.add_argument("--vocab", type=int, default=49152, help="V (default 49152, SmolLM2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per method (default 5)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, *sizes = args.worker
        sizes = list(map(int, sizes))
        print(json.dumps(agreement(*sizes[:3]) if name == "agreement" else worker(name, *sizes)))
        return

    print(machine())
    mib = 2**20
    rows = []
    for n in args.rows:
        for name in METHODS:
            got = in_subprocess(name, n, args.length, args.vocab, args.repeats)
            expected = expected_extra(name, n, args.length, args.vocab)
            logits_mib = n * args.length * args.vocab * 2 / mib
            rows.append([n, name, logits_mib, got["extra"] / mib, expected / mib, 1000 * got["seconds"]])
    headers = ["N", "method", "bf16 logits MiB", "extra peak MiB", "expected MiB", "ms (median)"]
    print(f"R = {args.length}, V = {args.vocab}")
    print(table(headers, rows))
    n = args.rows[0]
    for pair, diff in in_subprocess("agreement", n, args.length, args.vocab, 0).items():
        print(f"N = {n}: max |{pair}| = {diff:.3g}")
    print(machine())


if __name__ == "__main__":
    main()
