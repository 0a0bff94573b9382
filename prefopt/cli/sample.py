"""``prefopt sample PROMPTS --model PATH --out FILE``: K sampled completions per prompt, as JSON Lines.

Each output row is ``{"prompt": ..., "responses": [K completions], "finished": [K booleans]}`` (``false``: cut at
``--max-new-tokens``), ready for ``prefopt score``. Empty and cut completions are counted in warnings on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sample", help="sample K completions per prompt from a model")
    parser.add_argument("prompts", type=Path, help="JSON Lines (.gz too) whose rows have a 'prompt'")
    parser.add_argument("--model", required=True, help="a Hugging Face model directory or a .gguf file")
    parser.add_argument("--out", type=Path, required=True, help="output JSON Lines file")
    parser.add_argument("-k", type=_positive_int, default=4, help="completions per prompt (default 4)")
    parser.add_argument("--max-new-tokens", type=_positive_int, default=48, help="(default 48)")
    parser.add_argument("--temperature", type=_positive_float, default=1.0, help="(default 1.0)")
    parser.add_argument("--top-p", type=_probability, default=1.0, help="nucleus sampling mass (default 1.0: off)")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="sequences per generate call (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="(default 0)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=sample_command)


def sample_command(args: argparse.Namespace) -> int:
    # imported here, as every subcommand does, so that the command line starts without loading transformers
    from prefopt.atomic import write_jsonl
    from prefopt.config import ModelConfig
    from prefopt.model.load import load_model, load_tokenizer, resolve_source
    from prefopt.sampling import GenerationSettings, sample_completions
    from prefopt.sampling.checks import sampling_warnings
    from prefopt.sampling.files import read_prompts

    prompts = read_prompts(args.prompts)  # a bad prompt file fails before the model loads
    model_config = ModelConfig(path=args.model, dtype=args.dtype)
    tokenizer = load_tokenizer(model_config)
    model = load_model(resolve_source(args.model, model_config, len(tokenizer), args.seed, "--model"), args.dtype)
    settings = GenerationSettings(
        k=args.k,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    samples = sample_completions(model, tokenizer, prompts, settings, progress=not args.no_progress)
    write_jsonl(args.out, (s.record() for s in samples))
    print(f"wrote {len(samples)} prompts x {args.k} completions to {args.out}")
    for warning in sampling_warnings(samples, args.max_new_tokens):
        print(f"prefopt sample: warning: {warning}", file=sys.stderr)
    return 0
