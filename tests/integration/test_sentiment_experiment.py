"""The sentiment experiment end to end on the tiny preset: SFT -> sample -> score -> rank -> cache -> train ->
evaluate -> plot, on a handful of made-up reviews."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from prefopt.experiments.sentiment import SIZES, run_experiment
from prefopt.experiments.sentiment.__main__ import main
from prefopt.scoring import registry

WORDS = "the film was good bad great awful plot actors story boring fun scene music ending".split()


def mean_code_point(prompts, completions):
    """A reward that separates random byte strings (VADER scores nearly all of them 0): the mean code point."""
    return [sum(map(ord, p + c)) / len(p + c) for p, c in zip(prompts, completions, strict=True)]


@pytest.fixture
def imdb(tmp_path):
    directory = tmp_path / "imdb"
    directory.mkdir()
    for split, count in (("train", 24), ("test", 6)):
        with gzip.open(directory / f"{split}.jsonl.gz", "wt") as handle:
            for i in range(count):
                text = " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12 + i % 5))
                handle.write(
                    json.dumps({"id": f"{split}/{i}", "text": text.replace("plot", "plot<br /><br />")}) + "\n"
                )
    return directory


@pytest.fixture
def code_point_scorer():
    registry.register("mean-code-point", lambda: mean_code_point)
    yield "mean-code-point"
    registry.unregister("mean-code-point")


def interval_holds(point: dict, value: str) -> bool:
    low, high = point[f"{value}_ci"]
    return low <= point[value] <= high


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_tiny_preset(imdb, tmp_path, code_point_scorer):
    size, out, seeds = SIZES["test"], tmp_path / "out", (3, 5)
    offline = ["dpo (best vs worst)", "unlikelihood"]
    results = run_experiment(
        None, imdb, out, size, scorer=code_point_scorer, seeds=seeds, methods=offline, log=lambda line: None
    )

    # the preference data of each seed: K samples per training prefix, each scored on prompt + completion
    reviews = [
        " ".join(json.loads(line)["text"].replace("<br /><br />", " ").split())
        for line in gzip.open(imdb / "train.jsonl.gz", "rt")
    ]
    responses = []
    for seed in seeds:
        rows = [json.loads(line) for line in (out / "data" / f"seed-{seed}" / "train.scored.jsonl").open()]
        assert len(rows) == size.train_prompts and all(len(row["responses"]) == size.k for row in rows)
        for row in rows:
            assert row["scores"] == mean_code_point([row["prompt"]] * size.k, row["responses"])
            # a prefix of 2-8 byte tokens of a review, its trailing space dropped
            assert 1 <= len(row["prompt"]) <= 8 and any(review.startswith(row["prompt"]) for review in reviews)
        responses.append([row["responses"] for row in rows])
    assert responses[0] != responses[1]  # each seed samples its own preference data from the one pi_ref
    assert [row["prompt"] for row in rows] == [
        json.loads(line)["prompt"] for line in (out / "data" / "seed-3" / "train.scored.jsonl").open()
    ]

    # one reference cache per seed's data, shared by the seed's runs that need one
    assert len(list((out / "reference-cache").glob("*.safetensors"))) == len(seeds)
    # every run of every seed has a point at each step of the geometric schedule, with intervals around it
    assert [(run["seed"], run["name"]) for run in results["runs"]] == [
        (seed, m.name) for seed in seeds for m in size.methods if m.family in offline
    ]
    per_sample = json.loads((out / "per_sample.json").read_text())
    for run in results["runs"]:
        assert [p["step"] for p in run["points"]] == list(size.eval_steps) == [1, 2]
        for point in run["points"]:
            assert interval_holds(point, "reward") and interval_holds(point, "kl")
            arrays = per_sample[point["id"]]  # the (P, K) values the point and its intervals come from
            assert len(arrays["rewards"]) == size.eval_prompts and len(arrays["rewards"][0]) == size.eval_samples
            assert point["kl"] == pytest.approx(sum(map(sum, arrays["log_ratios"])) / point["samples"])

    # pi_ref is measured on its pool (the evaluation's draws first); best-of-1 is that pool, so they are equal
    for reference, check in zip(results["reference"], results["checks"], strict=True):
        assert reference["kl"] == pytest.approx(0.0, abs=1e-6) and interval_holds(reference, "reward")
        assert reference["samples"] == size.eval_prompts * size.best_of_pool
        best = [b for b in results["best_of_n"] if b["seed"] == reference["seed"]]
        assert [b["kl"] for b in best] == [pytest.approx(math.log(n) - (n - 1) / n) for n in size.best_of]
        assert best[0]["reward"] == reference["reward"]
        assert check["pi_ref_vs_best_of_1"] == {"difference": 0.0, "interval": [0.0, 0.0], "zero_inside": True}
        assert {"difference", "interval", "zero_inside"} <= set(check["evaluation_draws_vs_extra_draws"])
    assert results["seeds"] == list(seeds)
    assert results["design_effect"]["point"] == results["runs"][0]["points"][-1]["id"]
    assert {"python", "torch", "transformers", "trl", "device", "cpu", "torch_threads"} <= set(results["environment"])

    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text()) == results
    table = (out / "table.md").read_text()
    assert all(f"| {run['name']} | {run['seed']} |" in table for run in results["runs"])
    # each point splits its KL: the part at EOS tokens is 0 where no completion finished
    for point in (p for run in results["runs"] for p in run["points"]):
        arrays = per_sample[point["id"]]
        ended = [
            e
            for row_e, row_f in zip(arrays["eos_log_ratios"], arrays["finished"], strict=True)
            for e, f in zip(row_e, row_f, strict=True)
            if f
        ]
        assert point["kl_eos"] == pytest.approx(sum(ended) / point["samples"])
        assert point["finished"] == pytest.approx(sum(map(sum, arrays["finished"])) / point["samples"])

    # --report recomputes the outputs of the finished run from its files: the same results
    (out / "table.md").unlink()
    assert main(["--report", "--out", str(out)]) == 0
    assert (out / "table.md").read_text() == table
    assert json.loads((out / "results.json").read_text()) == results
    assert set(results["matched"]["families"]) == {*offline, "best-of-N (oracle)"}


@pytest.mark.slow
def test_rloo_trains_from_pi_ref_with_the_scorer_and_is_measured_at_the_same_steps(imdb, tmp_path, code_point_scorer):
    pytest.importorskip("trl", reason="the RLOO baseline needs the trl package (prefopt[experiments])")
    size = SIZES["test"]
    results = run_experiment(
        None, imdb, tmp_path / "out", size, scorer=code_point_scorer, methods=["rloo"], log=lambda line: None
    )
    (run,) = results["runs"]
    assert run["family"] == "rloo" and run["loss"]["beta"] > 0
    assert [p["step"] for p in run["points"]] == list(size.eval_steps)
    for point in run["points"]:
        assert point["samples"] == size.eval_prompts * size.eval_samples
        assert interval_holds(point, "reward") and interval_holds(point, "kl") and math.isfinite(point["loss"])
    assert "RLOO (TRL 1.16.0)" in (tmp_path / "out" / "table.md").read_text()


def test_rloo_without_trl_is_one_message_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("prefopt.experiments.sentiment.rloo.trl_version", lambda: None)
    args = ["--size", "test", "--model", "tiny", "--imdb", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*args, "--methods", "rloo"]) == 2
    err = capsys.readouterr().err
    assert "need trl" in err and "Traceback" not in err


def test_a_missing_imdb_split_is_one_message(tmp_path, capsys):
    assert main(["--size", "test", "--model", "tiny", "--imdb", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "train.jsonl.gz: no such IMDb split" in err and "Traceback" not in err
