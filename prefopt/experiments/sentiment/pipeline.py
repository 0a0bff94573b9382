"""The whole experiment: SFT -> sample -> score -> rank -> cache -> train each method -> evaluate -> plot.

Outputs in ``out``: ``sft/`` (pi_ref), ``data/train.samples.jsonl`` and ``data/train.scored.jsonl`` (K samples
per prefix and their VADER scores), ``reference-cache/`` (one cache for the sweep), ``runs/`` (each run's
metrics), ``results.json`` (every frontier point), ``frontier.png`` and ``table.md``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from accelerate import PartialState

from prefopt.config import ModelConfig
from prefopt.experiments.sentiment.frontier import best_of_n, rewards_of
from prefopt.experiments.sentiment.imdb import imdb_files, imdb_text
from prefopt.experiments.sentiment.methods import policy_evaluation, train_method
from prefopt.experiments.sentiment.report import plot_frontier, table
from prefopt.experiments.sentiment.sft import supervised_finetune
from prefopt.experiments.sentiment.sizes import ExperimentSize
from prefopt.model.load import load_model, load_tokenizer, resolve_source
from prefopt.sampling import GenerationSettings, sample_completions
from prefopt.sampling.files import write_jsonl
from prefopt.scoring import build_scorer
from prefopt.scoring.records import score_rows


def _load(path: str | None, seed: int):
    """Tokenizer and model of ``path`` (a directory or .gguf), or the tiny preset with byte tokens for None; the
    model on the device the training runs use (a GPU where there is one)."""
    config = ModelConfig(path=path, preset="tiny", tokenizer="bytes")
    tokenizer = load_tokenizer(config)
    model = load_model(resolve_source(path, config, len(tokenizer), seed), "float32")
    return tokenizer, model.to(PartialState().device)


def run_experiment(
    model: str | None,
    imdb: Path,
    out: Path,
    size: ExperimentSize,
    *,
    scorer: str = "vader",
    seed: int = 0,
    methods: list[str] | None = None,
    log=print,
) -> dict:
    """Run every stage; returns the results written to ``out/results.json``.

    Args:
        model: the pretrained model (a Hugging Face directory or a .gguf file); None: the tiny preset.
        imdb: directory with IMDb ``train.jsonl.gz`` and ``test.jsonl.gz``.
        size: the counts (:data:`prefopt.experiments.sentiment.SIZES`).
        scorer: the registered scorer that plays the ground-truth reward (the paper: a sentiment classifier).
        methods: names of the methods to train (default: all of ``size.methods``).
    """
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "sft": out / "sft",
        "scored": out / "data" / "train.scored.jsonl",
        "runs": out / "runs",
        "cache": out / "reference-cache",
    }
    imdb_files(imdb)  # a wrong path fails before anything loads
    reward = build_scorer(scorer)
    tokenizer, policy = _load(model, seed)
    sft_texts, train_prompts, eval_prompts = imdb_text(
        imdb, size.train_prompts, size.eval_prompts, size.sft_reviews, tokenizer, seed
    )
    chosen = [m for m in size.methods if methods is None or m.name in methods or m.family in methods]
    stages: dict[str, float] = {}

    def stage(name: str, since: float) -> float:
        stages[name] = round(time.monotonic() - since, 1)
        log(f"[{name}] {stages[name]:.0f} s")
        return time.monotonic()

    now = time.monotonic()
    sft_loss = supervised_finetune(policy, tokenizer, sft_texts, paths["sft"], size=size, seed=seed, progress=False)
    log(f"SFT on {len(sft_texts)} reviews, {size.sft_steps} steps: final loss {sft_loss:.3f}")
    now = stage("sft", now)

    generation = GenerationSettings(
        k=size.k, max_new_tokens=size.max_new_tokens, batch_size=size.generation_batch_size, seed=seed
    )
    samples = sample_completions(policy, tokenizer, train_prompts, generation)
    records = [s.record() for s in samples]  # with whether each completion finished (ended in EOS)
    write_jsonl(paths["scored"].with_name("train.samples.jsonl"), records)
    scored = score_rows(records, reward)
    write_jsonl(paths["scored"], scored)
    now = stage("sample and score", now)

    policy.eval()
    reference = policy  # pi_ref stays in memory for the KL estimates; each run loads its own copy from sft/
    evaluation_settings = replace(generation, k=size.eval_samples, seed=seed + 1)
    evaluation = policy_evaluation(reference, tokenizer, eval_prompts, reward, evaluation_settings)
    ref_point = evaluation(reference)
    bon_samples = sample_completions(
        reference, tokenizer, eval_prompts, replace(generation, k=max(size.best_of), seed=seed + 2)
    )
    bon = best_of_n(rewards_of(bon_samples, reward), size.best_of)
    now = stage("pi_ref and best-of-N", now)

    runs = []
    for method in chosen:
        points = train_method(method, size, paths, evaluation, seed, log)
        runs.append({"name": method.name, "family": method.family, "loss": method.loss, "points": points})
        now = stage(f"train {method.name}", now)

    results = {
        "model": model or "tiny preset",
        "scorer": scorer,
        "counts": {
            "train_prompts": len(train_prompts),
            "eval_prompts": len(eval_prompts),
            "k": size.k,
            "steps": size.steps,
        },
        "reference": {"reward": ref_point.reward, "kl": ref_point.kl},
        "best_of_n": [{"n": n, "reward": p.reward, "kl": p.kl} for n, p in bon.items()],
        "runs": runs,
        "stages_s": stages,
        "wall_s": round(time.monotonic() - started, 1),
    }
    partial = out / ".results.json.tmp"
    partial.write_text(json.dumps(results, indent=1))
    os.replace(partial, out / "results.json")
    (out / "table.md").write_text(table(results))
    plot_frontier(results, out / "frontier.png", f"IMDb sentiment, {Path(results['model']).name}: reward vs KL")
    log(f"wrote {out / 'frontier.png'}, {out / 'table.md'} and {out / 'results.json'} in {results['wall_s']:.0f} s")
    return results
