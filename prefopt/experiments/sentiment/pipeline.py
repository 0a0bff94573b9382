"""The whole experiment: SFT -> per seed: sample -> score -> rank -> cache -> train each method -> evaluate -> plot.

Seeds: one pi_ref (SFT with the first seed) and one set of prompts serve every seed; each seed has its own
preference samples, training order (the runs' ``seed``), evaluation draws (shared by every run of that seed:
common random numbers) and extra best-of-N draws. Seeds are spread apart (:func:`seed_of`) so that no two streams
share a generation batch's seed.

Outputs in ``out``: ``sft/`` (pi_ref), ``data/seed-S/train.samples.jsonl`` and ``data/seed-S/train.scored.jsonl``
(K samples per prefix and their scores), ``reference-cache/`` (one cache per seed's data, shared by its runs),
``runs/seed-S/`` (each run's log), ``results.json`` (every point with its intervals, the checks, the
environment), ``per_sample.json`` (every point's (P, K) rewards and log-ratios, by point id), ``frontier.png``
and ``table.md``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelerate import PartialState

from prefopt.atomic import write_jsonl, write_text
from prefopt.config import ModelConfig
from prefopt.experiments.sentiment.bootstrap import Bootstrap, naive_half_width
from prefopt.experiments.sentiment.environment import describe, environment
from prefopt.experiments.sentiment.frontier import FrontierPoint, best_of_n, best_of_n_kl, evaluate_policy
from prefopt.experiments.sentiment.imdb import imdb_files, imdb_text
from prefopt.experiments.sentiment.matched import matched_kl
from prefopt.experiments.sentiment.methods import Checkpoint, train_method
from prefopt.experiments.sentiment.report import plot_frontier, table
from prefopt.experiments.sentiment.rloo import require_trl, train_rloo
from prefopt.experiments.sentiment.sft import supervised_finetune
from prefopt.experiments.sentiment.sizes import RLOO, ExperimentSize
from prefopt.model.load import load_model, load_tokenizer, resolve_source
from prefopt.sampling import GenerationSettings, sample_completions
from prefopt.scoring import build_scorer
from prefopt.scoring.records import score_rows


def load_policy(path: str | None, seed: int):
    """Tokenizer and model of ``path`` (a directory or .gguf), or the tiny preset with byte tokens for None; the
    model on the device the training runs use (a GPU where there is one)."""
    config = ModelConfig(path=path, preset="tiny", tokenizer="bytes")
    tokenizer = load_tokenizer(config)
    model = load_model(resolve_source(path, config, len(tokenizer), seed), "float32")
    return tokenizer, model.to(PartialState().device)


@dataclass(frozen=True)
class Setting:
    """What every run of the experiment shares: the tokenizer, pi_ref (in memory, for the KL estimates) and the
    directory it was saved to, the training and the held-out prefixes."""

    tokenizer: Any
    reference: Any
    sft_dir: Path
    train_prompts: list[str]
    eval_prompts: list[str]


def prepare(
    model: str | None, imdb: Path, out: Path, size: ExperimentSize, seed: int, log, sft_dir: Path | None = None
):
    """The :class:`Setting` of ``size``: the prefixes of IMDb chosen with ``seed``, and pi_ref, fine-tuned from
    ``model`` into ``out / "sft"`` or, given ``sft_dir``, the pi_ref an earlier run saved there (the same
    prefixes then need the same ``size`` and ``seed`` as that run)."""
    tokenizer, policy = load_policy(model if sft_dir is None else str(sft_dir), seed)  # SFT saved its tokenizer
    sft_texts, train_prompts, eval_prompts = imdb_text(
        imdb, size.train_prompts, size.eval_prompts, size.sft_reviews, tokenizer, seed
    )
    if sft_dir is None:
        sft_dir = out / "sft"
        sft_loss = supervised_finetune(policy, tokenizer, sft_texts, sft_dir, size=size, seed=seed, progress=False)
        log(f"SFT on {len(sft_texts)} reviews, {size.sft_steps} steps: final loss {sft_loss:.3f}")
    else:
        log(f"pi_ref: {sft_dir}")
    return Setting(tokenizer, policy.eval(), sft_dir, train_prompts, eval_prompts)


def draws(setting: Setting, reward, size: ExperimentSize, seed: int):
    """``(evaluation, extra_draws)`` of one seed: ``evaluation(policy) -> FrontierPoint`` samples the held-out
    prefixes with the seed's evaluation stream (common to every policy of the seed); ``extra_draws(k)`` samples
    pi_ref ``k`` more times per prefix from another stream (None for k = 0)."""
    settings = GenerationSettings(
        k=size.eval_samples,
        max_new_tokens=size.max_new_tokens,
        batch_size=size.generation_batch_size,
        seed=seed_of(seed, EVALUATION),
    )
    reference, tokenizer, prompts = setting.reference, setting.tokenizer, setting.eval_prompts

    def evaluation(policy):
        return evaluate_policy(policy, reference, tokenizer, prompts, reward, settings)

    def extra_draws(k: int):
        extra = replace(settings, k=k, seed=seed_of(seed, BEST_OF_N_EXTRA))
        return evaluate_policy(reference, reference, tokenizer, prompts, reward, extra) if k else None

    return evaluation, extra_draws


SEED_STRIDE = 1_000_000  # seeds apart; a stream's generation batches take seed, seed + 1, ... (fewer than this)
TRAINING_SAMPLES, EVALUATION, BEST_OF_N_EXTRA = 1, 2, 3  # the sampling streams of one seed
STREAM_STRIDE = 100_000


def seed_of(seed: int, stream: int) -> int:
    """The generation seed of one sampling stream of one experiment seed."""
    return seed * SEED_STRIDE + stream * STREAM_STRIDE


def reference_points(
    reference, evaluation, extra_draws, size: ExperimentSize, bootstrap: Bootstrap, seed: int, per_sample: dict
) -> dict:
    """pi_ref's point, best-of-N and the checks that they agree, for one seed.

    pi_ref is measured on a pool of ``size.best_of_pool`` samples per held-out prompt: first the evaluation's own
    draws (the ones every policy of this seed is sampled with), then ``extra_draws`` of another seed. Best-of-N
    groups that pool, so best-of-1 is the pool itself and equals pi_ref's point exactly (the paired difference is
    recorded). The evaluation's draws against the extra draws, both of pi_ref, test that the two streams sample
    the same distribution: a paired bootstrap interval of their difference should hold 0.
    """
    crn = evaluation(reference)
    extra = extra_draws(size.best_of_pool - size.eval_samples)
    pool = crn if extra is None else FrontierPoint.joined(crn, extra)
    point_id = f"seed {seed} / pi_ref"
    per_sample[point_id] = pool.per_sample()
    best = best_of_n(pool.rewards, size.best_of)
    checks = {"seed": seed}
    if 1 in best:
        checks["pi_ref_vs_best_of_1"] = bootstrap.paired_difference(pool.rewards, best[1])
    if extra is not None:
        checks["evaluation_draws_vs_extra_draws"] = bootstrap.paired_difference(crn.rewards, extra.rewards)
    return {
        "reference": {"seed": seed, "id": point_id, **pool.summary(bootstrap)},
        "best_of_n": [
            {
                "seed": seed,
                "n": n,
                "reward": float(maxima.mean()),
                "reward_ci": list(bootstrap.interval(maxima)),
                "kl": best_of_n_kl(n),  # analytic (an upper bound): no sampling error
                "kl_ci": [best_of_n_kl(n)] * 2,
                "samples": maxima.numel(),
            }
            for n, maxima in best.items()
        ],
        "checks": checks,
        "pool": pool,
    }


def run_entry(method, seed: int, checkpoints: list[Checkpoint], bootstrap: Bootstrap, per_sample: dict) -> dict:
    """One run of one seed in results.json; its points' (P, K) arrays go to ``per_sample`` under their ids."""
    points = []
    for checkpoint in checkpoints:
        point_id = f"seed {seed} / {method.name} / step {checkpoint.step}"
        per_sample[point_id] = checkpoint.point.per_sample()
        points.append(
            {"id": point_id, "step": checkpoint.step, **checkpoint.point.summary(bootstrap), "loss": checkpoint.loss}
        )
    return {
        "name": method.name,
        "family": method.family,
        "loss": method.loss,
        "lr_scale": method.lr_scale,
        "seed": seed,
        "points": points,
    }


def design_effect(point_id: str, point: FrontierPoint, bootstrap: Bootstrap) -> dict:
    """The clustered interval's half-width beside the naive z * sd / sqrt(n) of one point, reward and KL; their
    squared ratio is the design effect of sampling K completions per prompt."""
    entry = {"point": point_id}
    for name, values in (("reward", point.rewards), ("kl", point.log_ratios)):
        low, high = bootstrap.interval(values)
        naive = naive_half_width(values, bootstrap.level)
        entry[name] = {
            "clustered_half_width": (high - low) / 2,
            "naive_half_width": naive,
            "design_effect": ((high - low) / 2 / naive) ** 2 if naive > 0 else None,
        }
    return entry


def run_experiment(
    model: str | None,
    imdb: Path,
    out: Path,
    size: ExperimentSize,
    *,
    scorer: str = "vader",
    seeds: tuple[int, ...] = (0,),
    methods: list[str] | None = None,
    bootstrap: Bootstrap | None = None,
    log=print,
) -> dict:
    """Run every stage; returns the results written to ``out/results.json``.

    Args:
        model: the pretrained model (a Hugging Face directory or a .gguf file); None: the tiny preset.
        imdb: directory with IMDb ``train.jsonl.gz`` and ``test.jsonl.gz``.
        size: the counts (:data:`prefopt.experiments.sentiment.SIZES`).
        scorer: the registered scorer that plays the ground-truth reward (the paper: a sentiment classifier).
        seeds: the experiment's seeds (the first also seeds pi_ref's SFT and the choice of prompts).
        methods: names or families of the methods to train (default: all of ``size.methods``).
        bootstrap: how the intervals are drawn (default: :class:`Bootstrap`'s 2000 seeded resamples).
    """
    started = time.monotonic()
    bootstrap = bootstrap or Bootstrap()
    chosen = [m for m in size.methods if methods is None or m.name in methods or m.family in methods]
    if any(m.family == RLOO for m in chosen):
        require_trl()
    imdb_files(imdb)  # a wrong path fails before anything loads
    out.mkdir(parents=True, exist_ok=True)
    env = environment(PartialState().device)
    log(f"environment: {describe(env)}")
    reward = build_scorer(scorer)
    stages: dict[str, float] = {}

    def stage(name: str, since: float) -> float:
        stages[name] = round(time.monotonic() - since, 1)
        log(f"[{name}] {stages[name]:.0f} s")
        return time.monotonic()

    now = time.monotonic()
    setting = prepare(model, imdb, out, size, seeds[0], log)
    tokenizer, reference, train_prompts = setting.tokenizer, setting.reference, setting.train_prompts
    now = stage("sft", now)

    per_sample: dict[str, dict] = {}
    references, best, checks, runs = [], [], [], []
    design, design_from_run = None, False  # the point whose design effect is recorded
    for seed in seeds:
        paths = {
            "sft": setting.sft_dir,
            "scored": out / "data" / f"seed-{seed}" / "train.scored.jsonl",
            "runs": out / "runs",
            "cache": out / "reference-cache",
        }
        generation = GenerationSettings(
            k=size.k,
            max_new_tokens=size.max_new_tokens,
            batch_size=size.generation_batch_size,
            seed=seed_of(seed, TRAINING_SAMPLES),
        )
        samples = sample_completions(reference, tokenizer, train_prompts, generation)
        records = [s.record() for s in samples]  # with whether each completion finished (ended in EOS)
        paths["scored"].parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(paths["scored"].with_name("train.samples.jsonl"), records)
        write_jsonl(paths["scored"], score_rows(records, reward))
        now = stage(f"seed {seed}: sample and score", now)

        evaluation, extra_draws = draws(setting, reward, size, seed)
        measured = reference_points(reference, evaluation, extra_draws, size, bootstrap, seed, per_sample)
        references.append(measured["reference"])
        best += measured["best_of_n"]
        checks.append(measured["checks"])
        if design is None:
            design = (measured["reference"]["id"], measured["pool"])
        now = stage(f"seed {seed}: pi_ref and best-of-N", now)

        for method in chosen:
            if method.family == RLOO:
                checkpoints = train_rloo(
                    method,
                    size,
                    paths,
                    evaluation,
                    seed,
                    log,
                    tokenizer=tokenizer,
                    prompts=train_prompts,
                    scorer=reward,
                )
            else:
                checkpoints = train_method(method, size, paths, evaluation, seed, log)
            runs.append(run_entry(method, seed, checkpoints, bootstrap, per_sample))
            if not design_from_run and checkpoints:  # one trained policy's last point: its samples vary most
                design, design_from_run = (runs[-1]["points"][-1]["id"], checkpoints[-1].point), True
            now = stage(f"seed {seed}: train {method.name}", now)

    results = {
        "model": model or "tiny preset",
        "scorer": scorer,
        "environment": env,
        "seeds": list(seeds),
        "seed_design": (
            f"one pi_ref (SFT with seed {seeds[0]}) and one set of training and held-out prompts; per seed its own "
            "preference samples, training order, evaluation draws (common to the seed's runs) and best-of-N draws"
        ),
        "counts": {
            "train_prompts": len(train_prompts),
            "eval_prompts": len(setting.eval_prompts),
            "eval_samples": size.eval_samples,
            "best_of_pool": size.best_of_pool,
            "k": size.k,
            "steps": size.steps,
            "eval_steps": list(size.eval_steps),
        },
        "bootstrap": {
            "resamples": bootstrap.resamples,
            "level": bootstrap.level,
            "seed": bootstrap.seed,
            "method": "percentile, held-out prompts resampled with all their samples",
        },
        "reference": references,
        "best_of_n": best,
        "checks": checks,
        "design_effect": design_effect(*design, bootstrap),
        "runs": runs,
        "stages_s": stages,
        "wall_s": round(time.monotonic() - started, 1),
    }
    write_text(out / "per_sample.json", json.dumps(per_sample))
    write_outputs(out, results, per_sample, bootstrap)
    log(f"wrote {out / 'frontier.png'}, {out / 'table.md'} and {out / 'results.json'} in {results['wall_s']:.0f} s")
    return results


def write_outputs(out: Path, results: dict, per_sample: dict, bootstrap: Bootstrap) -> None:
    """The reward at matched KL (into ``results``), then ``results.json``, ``table.md`` and ``frontier.png``."""
    results["matched"] = matched_kl(results, per_sample, bootstrap)
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "table.md", table(results))
    plot_frontier(results, out / "frontier.png", f"IMDb sentiment, {Path(results['model']).name}: reward vs KL")


def report_again(out: Path) -> dict:
    """Recompute the outputs of a finished run in ``out`` from its ``results.json`` and ``per_sample.json`` (with
    the bootstrap settings recorded there)."""
    results = json.loads((out / "results.json").read_text())
    per_sample = json.loads((out / "per_sample.json").read_text())
    recorded = results["bootstrap"]
    bootstrap = Bootstrap(resamples=recorded["resamples"], level=recorded["level"], seed=recorded["seed"])
    write_outputs(out, results, per_sample, bootstrap)
    return results
