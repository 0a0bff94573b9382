"""Training in rounds on fresh samples: sample K responses per prompt from the current policy, score and rank them,
train the next policy from the current one on those rankings; repeat.

Round r (1-based) starts from pi_{r-1} (pi_0: the starting model):

1. sample K responses of each of the round's training prompts from pi_{r-1} (from pi_0 every round with
   ``samples_from: start``, the ablation of on-policy sampling), score them with the configured scorer
   and write ``samples.jsonl`` (the ``scored`` format: equal scores stay ties; a prompt whose scores all tie carries
   no preference, and training skips and counts it);
2. train pi_r from pi_{r-1} on those records with :func:`prefopt.train`, against the reference that ``reference``
   names: pi_0 (``fixed``) or pi_{r-1} (``moving``); its reference log-probs are cached under their own
   fingerprint, as every run's are;
3. sample the held-out prompts from pi_r: their mean score and the KL of pi_r from pi_0;
4. write ``report.json``, the mark of a complete round.

A resumed run skips complete rounds, reuses the samples of a round that has them, and resumes that round's
training from its latest checkpoint (``prefopt.train(resume=True)``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from prefopt.api import StepEnd, train
from prefopt.atomic import write_json, write_jsonl, write_text
from prefopt.config import ConfigError, RunConfig
from prefopt.iterative.config import RoundsConfig, as_rounds_config, dump_rounds_config
from prefopt.iterative.layout import RoundsDirectory
from prefopt.iterative.measure import clustered_mean, kl_estimate
from prefopt.iterative.policies import ModelRef, free_memory, load_policy, starting_model
from prefopt.iterative.prompts import Prompt, PromptPlan, plan_prompts
from prefopt.iterative.report import summary_table
from prefopt.sampling import GenerationSettings, PromptSamples, sample_completions
from prefopt.sampling.checks import sampling_warnings
from prefopt.scoring import Scorer, build_scorer
from prefopt.scoring.records import read_samples, score_rows, scoring_warnings

SEED_STRIDE = 1_000_000  # seeds apart of two sampling calls (each call seeds its batches seed, seed + 1, ...)
PARTS = ("train", "held-out")
# settings a resumed run may change: how many rounds, where the run lives, what each training run logs
RESUMABLE_CHANGES = ("rounds", "output_dir", "train.logging.")

Log = Callable[[str], None]
OnRoundStep = Callable[[int, StepEnd], None]  # (round number, the round's training step)


@dataclass
class RoundsResult:
    """What a finished rounds run reports: its directory, the last policy's ``final/`` and every round's report
    (also in ``rounds.json``)."""

    output_dir: Path
    model_path: Path
    reports: list[dict[str, Any]]


class PhaseSeconds(dict):
    """Wall-clock seconds per phase (``sampling``, ``scoring``, ``training``, ``kl``)."""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started


def generation_settings(config: RoundsConfig, round_number: int, part: str) -> GenerationSettings:
    """How round ``round_number`` samples the prompts of ``part`` (``train`` or ``held-out``): the configured
    settings, seeded apart from every other round and part."""
    return GenerationSettings(
        k=config.k,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        batch_size=config.sampling_batch_size,
        seed=config.seed + SEED_STRIDE * (2 * round_number + PARTS.index(part)),
    )


def round_run_config(config: RoundsConfig, round_number: int, policy: ModelRef, reference: ModelRef) -> RunConfig:
    """The training configuration of round ``round_number``: ``config.train`` starting from ``policy`` against
    ``reference``, writing into ``OUT/round-NN/train``."""
    tree = config.train.model_dump(mode="json")
    tree["model"].update(
        path=policy.path, revision=policy.revision, reference_path=reference.path, reference_revision=reference.revision
    )
    tree["logging"]["output_dir"] = str(RoundsDirectory(Path(config.output_dir)).round(round_number).train_dir)
    return RunConfig.model_validate(tree)


def rounds(
    config: RoundsConfig | dict | str | Path,
    *,
    resume: bool = False,
    log: Log = print,
    on_step: OnRoundStep | None = None,
) -> RoundsResult:
    """Train ``config.rounds`` rounds; ``resume`` continues a run in ``output_dir`` where it stopped.

    ``on_step(round_number, StepEnd)`` is called after every optimizer step of every round's training (as
    ``prefopt.train``'s ``on_step``; the step counts from 1 in each round), e.g. to measure the policy part-way.

    Raises:
        ConfigError: an invalid configuration, too few prompts, an output directory that holds another run (or
            a run with other settings, on resume); before any model is loaded.
        PreferenceDataError: a bad prompt row, naming file, row and field.
        RegistryError, ScorerError: an unknown scorer, or options it does not take.
    """
    config = as_rounds_config(config)
    directory = RoundsDirectory(Path(config.output_dir))
    _check_output_dir(config, directory, resume)
    plan = plan_prompts(config)
    scorer = build_scorer(config.scorer.name, **config.scorer.options)
    write_text(directory.config_file, dump_rounds_config(config))
    start = starting_model(config.train, directory)
    policy, reports = start, []
    for number in range(1, config.rounds + 1):
        here = directory.round(number)
        if resume and here.report_file.exists():
            log(f"round {number} is complete ({here.report_file}); skipped")
            report = json.loads(here.report_file.read_text())
        else:
            report = _run_round(config, number, plan, scorer, policy, start, resume, log, on_step)
        reports.append(report)
        write_json(directory.summary_file, {"rounds": reports})
        policy = ModelRef(str(here.policy_dir))
    log(summary_table(reports))
    log(f"wrote {directory.summary_file}; the last policy is {policy.path}")
    return RoundsResult(directory.root, Path(policy.path), reports)


def _run_round(
    config: RoundsConfig,
    number: int,
    plan: PromptPlan,
    scorer: Scorer,
    policy: ModelRef,
    start: ModelRef,
    resume: bool,
    log: Log,
    on_step: OnRoundStep | None,
) -> dict[str, Any]:
    here = RoundsDirectory(Path(config.output_dir)).round(number)
    seconds = PhaseSeconds()
    source = policy if config.samples_from == "policy" else start
    if resume and here.samples_file.exists():
        rows = read_samples(here.samples_file)
        log(f"round {number}: reusing the samples in {here.samples_file}")
    else:
        log(f"round {number}: sampling {len(plan.for_round(number))} prompts x {config.k} from {source.path}")
        _, model, samples = _sample(config, source, plan.for_round(number), number, "train", seconds)
        del model
        free_memory()
        rows = _score(samples, scorer, seconds)
        for warning in sampling_warnings(samples, config.max_new_tokens) + scoring_warnings(rows):
            print(f"prefopt rounds: round {number}: warning: {warning}", file=sys.stderr)
        write_jsonl(here.samples_file, rows)
    reference = start if config.reference == "fixed" else policy
    with seconds.phase("training"):
        result = train(
            round_run_config(config, number, policy, reference),
            train=rows,
            resume=resume,
            on_step=None if on_step is None else partial(on_step, number),
        )
    trained = ModelRef(str(here.policy_dir))
    held_out = _held_out(config, number, plan.held_out, scorer, trained, start, seconds) if plan.held_out else None
    report = {
        "round": number,
        "sampled_from": source.path,
        "reference": reference.path,
        "policy": trained.path,
        "prompts": len(rows),
        "k": config.k,
        "tied_prompts": sum(len(set(row["scores"])) == 1 for row in rows),
        "score": clustered_mean([row["scores"] for row in rows]),
        "held_out": held_out,
        "steps": result.steps,
        "accuracy": result.final_metrics.get("accuracy"),
        "kendall_tau": result.final_metrics.get("kendall_tau"),
        "seconds": dict(seconds),
    }
    write_json(here.report_file, report)
    return report


def _sample(
    config: RoundsConfig, ref: ModelRef, prompts: list[Prompt], number: int, part: str, seconds: PhaseSeconds
) -> tuple[Any, Any, list[PromptSamples]]:
    """``(tokenizer, model, samples)``: K samples of each of ``prompts`` from the model ``ref``."""
    with seconds.phase("sampling"):
        tokenizer, model = load_policy(ref, config.train)
        settings = generation_settings(config, number, part)
        samples = sample_completions(model, tokenizer, prompts, settings, progress=config.train.logging.progress)
    return tokenizer, model, samples


def _score(samples: list[PromptSamples], scorer: Scorer, seconds: PhaseSeconds) -> list[dict]:
    """The samples records of ``samples`` with their ``scores``."""
    with seconds.phase("scoring"):
        return score_rows([sample.record() for sample in samples], scorer)


def _held_out(
    config: RoundsConfig,
    number: int,
    prompts: list[Prompt],
    scorer: Scorer,
    trained: ModelRef,
    start: ModelRef,
    seconds: PhaseSeconds,
) -> dict[str, Any]:
    """Fresh samples of the held-out prompts from the round's policy pi_r: their score and KL(pi_r || pi_0)."""
    tokenizer, model, samples = _sample(config, trained, prompts, number, "held-out", seconds)
    rows = _score(samples, scorer, seconds)
    write_jsonl(RoundsDirectory(Path(config.output_dir)).round(number).held_out_file, rows)
    with seconds.phase("kl"):
        _, start_model = load_policy(start, config.train)
        kl = kl_estimate(model, start_model, samples, tokenizer.pad_token_id)
    del model, start_model
    free_memory()
    return {"prompts": len(rows), "score": clustered_mean([row["scores"] for row in rows]), "kl_to_start": kl}


def _check_output_dir(config: RoundsConfig, directory: RoundsDirectory, resume: bool) -> None:
    """Refuse to start over a run without ``resume``, or to resume one with other settings.

    Raises:
        ConfigError: naming the directory, or every setting that differs (then -> now).
    """
    if not directory.config_file.exists():
        return
    if not resume:
        raise ConfigError(
            f"{directory.root} holds a rounds run ({directory.config_file.name}); resume it (--resume, "
            f"resume=True) or choose another output_dir"
        )
    saved = yaml.safe_load(directory.config_file.read_text())
    changed = [
        f"{key} {then!r} -> {now!r}"
        for key, then, now in _differences(saved, config.model_dump(mode="json"))
        if not key.startswith(RESUMABLE_CHANGES)
    ]
    if changed:
        raise ConfigError(
            f"cannot resume the rounds in {directory.root}: they ran with other settings (then -> now): "
            f"{', '.join(changed)}; on resume only rounds, output_dir and train.logging.* may change"
        )


def _differences(saved: Any, now: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, saved value, value now)`` of every setting that differs between two nested settings trees."""
    if not (isinstance(saved, dict) and isinstance(now, dict)):
        return [] if saved == now else [(prefix.rstrip("."), saved, now)]
    return [
        difference
        for name in sorted(saved.keys() | now.keys())
        for difference in _differences(saved.get(name), now.get(name), f"{prefix}{name}.")
    ]
