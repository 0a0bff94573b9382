"""The rounds experiment: pi_ref -> per seed: pi_ref and best-of-N -> each arm through ``prefopt.rounds``, its
policy measured as the sentiment experiment measures every ``measure_every`` steps (at the end of each round of the
arms in rounds, and at the same step counts offline) -> paired comparisons -> plot and tables.

pi_ref, the prefixes and the evaluation draws are the sentiment experiment's at the same base size and seeds
(:func:`prefopt.experiments.sentiment.pipeline.prepare` and ``draws``), so both experiments' points share pi_ref's
point and its best-of-N. Outputs in ``out``: ``prompts.jsonl`` (the training prefixes), ``arms/seed-S/ARM/`` (each
arm's rounds directory: every round's samples, training run, policy and report, and ``points.json``, the arm's
measured points, written when it is finished: a rerun reads them back), ``results.json``,
``per_sample.json``, ``frontier.png`` and ``table.md``; ``reference/seed-S.json`` keeps each seed's pi_ref pool
and best-of-N for a rerun.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

from accelerate import PartialState

from prefopt.api import StepEnd
from prefopt.atomic import write_json, write_jsonl, write_text
from prefopt.config import ConfigError
from prefopt.experiments.rounds.arms import Arm, RoundsSize
from prefopt.experiments.rounds.compare import contrasts
from prefopt.experiments.rounds.report import plot, table
from prefopt.experiments.sentiment.bootstrap import Bootstrap
from prefopt.experiments.sentiment.environment import describe, environment
from prefopt.experiments.sentiment.frontier import FrontierPoint
from prefopt.experiments.sentiment.imdb import imdb_files
from prefopt.experiments.sentiment.matched import matched_kl
from prefopt.experiments.sentiment.methods import training_overrides
from prefopt.experiments.sentiment.pipeline import Setting, draws, prepare, reference_points
from prefopt.iterative import RoundsConfig, load_rounds_config, rounds
from prefopt.run.directory import remove_tree
from prefopt.scoring import build_scorer

POINTS_FILE = "points.json"  # an arm's measured points, written when the arm is finished
ROUNDS_SEED_STRIDE = 1000  # a seed's rounds sample with seeds 1000 * seed + 500 + ... (few batches per call)


def arm_directory(out: Path, arm: Arm, seed: int) -> Path:
    return out / "arms" / f"seed-{seed}" / arm.name.replace(" ", "_")


def rounds_config(arm: Arm, size: RoundsSize, setting: Setting, out: Path, scorer: str, seed: int) -> RoundsConfig:
    """The ``prefopt.rounds`` configuration of one arm and seed: the sentiment experiment's training settings
    (:func:`prefopt.experiments.sentiment.methods.training_overrides`) with the arm's loss, steps per round,
    reference and source of samples, a fresh slice of the training prefixes per round, no held-out split (the
    experiment measures the policies itself)."""
    base = size.base
    training = training_overrides(
        arm.loss,
        base,
        lr=base.lr,
        steps=size.steps_per_round(arm),
        seed=seed,
        sft=setting.sft_dir,
        cache=out / "reference-cache",
    )
    return load_rounds_config(
        None,
        [
            f"rounds={arm.rounds}",
            f"k={base.k}",
            f"max_new_tokens={base.max_new_tokens}",
            f"sampling_batch_size={base.generation_batch_size}",
            f"scorer.name={scorer}",
            f"prompts.path={out / 'prompts.jsonl'}",
            f"prompts.per_round={size.prompts_per_round(arm)}",
            "prompts.pool=fresh",
            "prompts.eval_fraction=0",
            f"reference={arm.reference}",
            f"samples_from={arm.samples_from}",
            f"seed={ROUNDS_SEED_STRIDE * seed + ROUNDS_SEED_STRIDE // 2}",
            f"output_dir={arm_directory(out, arm, seed)}",
            *(f"train.{item}" for item in training),
        ],
    )


def measured_reference(out: Path, size: RoundsSize, seed: int, per_sample: dict, measure) -> dict:
    """pi_ref's point, best-of-N and the checks of one seed: ``measure()`` (the sentiment experiment's
    ``reference_points``) the first time, written to ``reference/seed-S.json``; read back on a rerun."""
    saved = out / "reference" / f"seed-{seed}.json"
    if saved.is_file():
        kept = json.loads(saved.read_text())
        per_sample[kept["reference"]["id"]] = kept["pool"]
        return kept
    measured = measure()
    kept = {key: measured[key] for key in ("reference", "best_of_n", "checks")}
    write_json(saved, {**kept, "pool": per_sample[kept["reference"]["id"]]})
    return kept


def check_same_experiment(out: Path, identity: dict) -> None:
    """Record what ``out`` measures (``experiment.json``); a rerun into it must measure the same, so that the
    arms and pi_ref points it reads back belong to it (arms may be added).

    Raises:
        ConfigError: naming the directory and each setting that differs.
    """
    marker = out / "experiment.json"
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        changed = [key for key in identity if recorded.get(key) != identity[key]]
        if changed:
            raise ConfigError(
                f"{out} holds a rounds experiment with another {', '.join(changed)}; choose another --out"
            )
    write_json(marker, identity)


def run_arm(arm: Arm, size: RoundsSize, setting: Setting, evaluation, out: Path, scorer: str, seed: int, log):
    """Train one arm's rounds, measuring the policy every ``size.measure_every`` steps (counted over the rounds);
    ``(run entry, [FrontierPoint per measurement])``. A finished arm's ``points.json`` is read back instead of
    training again; an unfinished arm's directory is started over."""
    directory = arm_directory(out, arm, seed)
    saved = directory / POINTS_FILE
    if saved.is_file():
        kept = json.loads(saved.read_text())
        log(f"  {arm.name:<18} seed {seed}: measured before ({saved})")
        return kept["entry"], [FrontierPoint.from_per_sample(arrays) for arrays in kept["per_sample"]]
    remove_tree(directory)
    measured: list[tuple[int, int, FrontierPoint, float]] = []  # (round, step over the rounds, point, seconds)

    def on_step(round_number: int, end: StepEnd) -> None:
        step = (round_number - 1) * size.steps_per_round(arm) + end.step
        if step % size.measure_every == 0:
            started = time.perf_counter()
            point = evaluation(end.policy)
            measured.append((round_number, step, point, time.perf_counter() - started))
            log(f"  {arm.name:<18} round {round_number} step {step:>3}: reward {point.reward:+.3f}  KL {point.kl:6.3f}")

    result = rounds(rounds_config(arm, size, setting, out, scorer, seed), log=lambda _: None, on_step=on_step)
    reports = {report["round"]: report for report in result.reports}
    entry = {"name": arm.name, "family": arm.family, "loss": arm.loss, "seed": seed, "points": []}
    for round_number, step, _, seconds in measured:
        report = reports[round_number]
        entry["points"].append(
            {
                "round": round_number,
                "step": step,
                "fresh_samples_score": report["score"],
                "tied_prompts": report["tied_prompts"],
                "kendall_tau": report["kendall_tau"],
                "seconds": {name: round(value, 1) for name, value in report["seconds"].items()},
                "evaluation_seconds": round(seconds, 1),
            }
        )
    points = [point for *_, point, _ in measured]
    write_json(saved, {"entry": entry, "per_sample": [point.per_sample() for point in points]})
    return entry, points


def run_rounds_experiment(
    model: str | None,
    imdb: Path,
    out: Path,
    size: RoundsSize,
    *,
    scorer: str = "vader",
    seeds: tuple[int, ...] = (0, 1, 2),
    sft_dir: Path | None = None,
    bootstrap: Bootstrap | None = None,
    log=print,
) -> dict:
    """Run every arm for every seed; returns the results written to ``out/results.json``.

    Args:
        model: the pretrained model (a Hugging Face directory or a .gguf file); None: the tiny preset.
        imdb: directory with IMDb ``train.jsonl.gz`` and ``test.jsonl.gz``.
        size: the counts and arms (:data:`prefopt.experiments.rounds.SIZES`).
        scorer: the registered scorer that plays the ground-truth reward and ranks the samples.
        seeds: the seeds (the first chooses the prefixes and seeds pi_ref's SFT).
        sft_dir: pi_ref saved by a sentiment experiment of the same base size and first seed (``OUT/sft``);
            None: fine-tune it here.
        bootstrap: how the intervals are drawn (default: 2000 seeded resamples of the held-out prefixes).
    """
    started = time.monotonic()
    bootstrap = bootstrap or Bootstrap()
    imdb_files(imdb)
    out.mkdir(parents=True, exist_ok=True)
    check_same_experiment(
        out, {"size": repr(size.base), "rounds": size.rounds, "model": model or "tiny preset", "scorer": scorer}
    )
    env = environment(PartialState().device)
    log(f"environment: {describe(env)}")
    reward = build_scorer(scorer)
    setting = prepare(model, imdb, out, size.base, seeds[0], log, sft_dir=sft_dir)
    write_jsonl(out / "prompts.jsonl", [{"prompt": prompt} for prompt in setting.train_prompts])
    stages = {"pi_ref": round(time.monotonic() - started, 1)}
    per_sample: dict[str, dict] = {}
    references, best, checks, runs, finals = [], [], [], [], {}
    for seed in seeds:
        since = time.monotonic()
        evaluation, extra_draws = draws(setting, reward, size.base, seed)
        measured = measured_reference(
            out,
            size,
            seed,
            per_sample,
            partial(
                reference_points, setting.reference, evaluation, extra_draws, size.base, bootstrap, seed, per_sample
            ),
        )
        references.append(measured["reference"])
        best += measured["best_of_n"]
        checks.append(measured["checks"])
        stages[f"seed {seed}: pi_ref and best-of-N"] = round(time.monotonic() - since, 1)
        for arm in size.arms:
            since = time.monotonic()
            entry, points = run_arm(arm, size, setting, evaluation, out, scorer, seed, log)
            for summary, point in zip(entry["points"], points, strict=True):
                summary["id"] = f"seed {seed} / {arm.name} / step {summary['step']}"
                summary.update(point.summary(bootstrap))
                per_sample[summary["id"]] = point.per_sample()
            runs.append(entry)
            finals[(seed, arm.name)] = points[-1]
            stages[f"seed {seed}: {arm.name}"] = round(time.monotonic() - since, 1)
            log(f"[seed {seed}: {arm.name}] {stages[f'seed {seed}: {arm.name}']:.0f} s")
    results = {
        "model": model or "tiny preset",
        "scorer": scorer,
        "environment": env,
        "seeds": list(seeds),
        "counts": {
            "train_prompts": len(setting.train_prompts),
            "eval_prompts": len(setting.eval_prompts),
            "eval_samples": size.base.eval_samples,
            "k": size.base.k,
            "steps": size.base.steps,
            "rounds": size.rounds,
            "measure_every": size.measure_every,
            "batch_size": size.base.batch_size,
        },
        "bootstrap": {"resamples": bootstrap.resamples, "level": bootstrap.level, "seed": bootstrap.seed},
        "reference": references,
        "best_of_n": best,
        "checks": checks,
        "runs": runs,
        "contrasts": contrasts(size.arms, seeds, finals, bootstrap),
        "stages_s": stages,
        "wall_s": round(time.monotonic() - started, 1),
    }
    results["matched"] = matched_kl(results, per_sample, bootstrap)
    write_text(out / "per_sample.json", json.dumps(per_sample))
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "table.md", table(results))
    plot(results, out / "frontier.png")
    log(f"wrote {out / 'frontier.png'}, {out / 'table.md'} and {out / 'results.json'} in {results['wall_s']:.0f} s")
    return results
