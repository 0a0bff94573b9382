"""The rounds experiment end to end on the tiny preset: each arm's rounds sample the policy of the round before on
a fresh slice of the prefixes, every round's policy is measured, and the contrasts are the differences of the
measured points."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from prefopt.config import ConfigError
from prefopt.experiments.rounds import SIZES, RoundsSize, run_rounds_experiment
from prefopt.experiments.rounds.pipeline import arm_directory
from tests.integration.test_sentiment_experiment import code_point_scorer, imdb  # noqa: F401 (fixtures)

SIZE = SIZES["test"]
ARMS = tuple(arm for arm in SIZE.arms if arm.reference == "fixed" and "bvw" not in arm.name)


@pytest.mark.slow
def test_every_arm_trains_in_rounds_on_fresh_samples_and_is_measured_after_each(imdb, tmp_path, code_point_scorer):  # noqa: F811
    size, out, seeds = RoundsSize(SIZE.base, SIZE.rounds, ARMS), tmp_path / "out", (3, 5)
    results = run_rounds_experiment(None, imdb, out, size, scorer=code_point_scorer, seeds=seeds, log=lambda _: None)

    prompts = [json.loads(line)["prompt"] for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == size.base.train_prompts
    for seed in seeds:
        for arm in ARMS:
            (run,) = [r for r in results["runs"] if r["name"] == arm.name and r["seed"] == seed]
            # measured at the end of each round of the arms in rounds, and at the same step counts offline
            every = size.measure_every
            assert [p["step"] for p in run["points"]] == list(range(every, size.base.steps + 1, every))
            assert [p["round"] for p in run["points"]] == [
                1 + (p["step"] - 1) // size.steps_per_round(arm) for p in run["points"]
            ]
            reports = [
                json.loads((arm_directory(out, arm, seed) / f"round-{r:02d}" / "report.json").read_text())
                for r in range(1, arm.rounds + 1)
            ]
            # round 1 samples pi_ref, round r the policy of round r - 1 (pi_ref again when the arm asks for it)
            assert reports[0]["sampled_from"] == str(out / "sft")
            for before, after in zip(reports, reports[1:], strict=False):
                expected = before["policy"] if arm.samples_from == "policy" else str(out / "sft")
                assert after["sampled_from"] == expected and after["sampled_from"] != after["policy"]
            # each round samples its own slice of the prefixes; together they are every prefix once
            sampled = [
                json.loads(line)["prompt"]
                for r in range(1, arm.rounds + 1)
                for line in (arm_directory(out, arm, seed) / f"round-{r:02d}" / "samples.jsonl")
                .read_text()
                .splitlines()
            ]
            assert sorted(sampled) == sorted(prompts)

    # a contrast is the seeds' mean of the weighted differences of the arms' last points' mean rewards
    per_sample = json.loads((out / "per_sample.json").read_text())

    def last_reward(seed: int, name: str) -> float:
        (run,) = [r for r in results["runs"] if r["name"] == name and r["seed"] == seed]
        return float(torch.tensor(per_sample[run["points"][-1]["id"]]["rewards"], dtype=torch.float64).mean())

    contrasts = results["contrasts"]
    assert len(contrasts) == 6  # rounds vs offline twice, PL vs DPO twice, their difference, on-policy samples
    for contrast in contrasts:
        expected = [sum(w * last_reward(seed, name) for name, w in contrast["weights"].items()) for seed in seeds]
        for seed, value in zip(seeds, expected, strict=True):
            assert contrast["reward"]["per_seed"][str(seed)]["difference"] == pytest.approx(value, rel=1e-9)
        assert contrast["reward"]["pooled"]["difference"] == pytest.approx(sum(expected) / len(expected), rel=1e-9)
        low, high = contrast["reward"]["pooled"]["interval"]
        assert low <= contrast["reward"]["pooled"]["difference"] <= high
    table = (out / "table.md").read_text()
    assert table.count("| pl x2 |") == len(seeds) * SIZE.rounds  # a row per round and seed
    assert {arm.family for arm in ARMS} < set(results["matched"]["families"])
    assert (out / "frontier.png").stat().st_size > 0

    # a rerun reads every finished arm's points back and trains nothing again: the same results
    again = run_rounds_experiment(None, imdb, out, size, scorer=code_point_scorer, seeds=seeds, log=lambda _: None)
    assert again["runs"] == results["runs"] and again["contrasts"] == results["contrasts"]
    assert again["reference"] == results["reference"] and again["best_of_n"] == results["best_of_n"]
    assert all((out / "reference" / f"seed-{seed}.json").is_file() for seed in seeds)
    # a rerun of another size into it is refused before anything loads
    other = RoundsSize(replace(size.base, steps=4), size.rounds, ARMS)
    with pytest.raises(ConfigError, match="another size"):
        run_rounds_experiment(None, imdb, out, other, scorer=code_point_scorer, seeds=seeds, log=lambda _: None)
