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


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_tiny_preset(imdb, tmp_path, code_point_scorer):
    size, out = SIZES["test"], tmp_path / "out"
    results = run_experiment(None, imdb, out, size, scorer=code_point_scorer, log=lambda line: None)

    # the preference data: K samples per training prefix, each scored by the scorer on prompt + completion
    rows = [json.loads(line) for line in (out / "data" / "train.scored.jsonl").read_text().splitlines()]
    assert len(rows) == size.train_prompts and all(len(row["responses"]) == size.k for row in rows)
    reviews = [
        " ".join(json.loads(line)["text"].replace("<br /><br />", " ").split())
        for line in gzip.open(imdb / "train.jsonl.gz", "rt")
    ]
    for row in rows:
        assert row["scores"] == mean_code_point([row["prompt"]] * size.k, row["responses"])
        # a prefix of 2-8 byte tokens of a review, its trailing space dropped
        assert 1 <= len(row["prompt"]) <= 8 and any(review.startswith(row["prompt"]) for review in reviews)

    # one reference cache serves every run that needs one
    assert len(list((out / "reference-cache").glob("*.safetensors"))) == 1
    # every method has a frontier point at every evaluation step; pi_ref against itself has KL 0
    assert [run["name"] for run in results["runs"]] == [m.name for m in size.methods]
    for run in results["runs"]:
        expected_steps = [s for s in range(1, size.steps + 1) if s % size.eval_every == 0 or s == size.steps]
        assert [p["step"] for p in run["points"]] == expected_steps
        assert all(math.isfinite(p["kl"]) and math.isfinite(p["reward"]) for p in run["points"])
    assert results["reference"]["kl"] == pytest.approx(0.0, abs=1e-6)
    best = results["best_of_n"]
    assert [b["kl"] for b in best] == [pytest.approx(math.log(n) - (n - 1) / n) for n in size.best_of]
    assert best[0]["reward"] <= best[1]["reward"]  # the best of more samples (the first ones among them) is no worse

    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text()) == results
    table = (out / "table.md").read_text()
    assert all(f"| {m.name} |" in table for m in size.methods)


def test_a_missing_imdb_split_is_one_message(tmp_path, capsys):
    assert main(["--size", "test", "--model", "tiny", "--imdb", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "train.jsonl.gz: no such IMDb split" in err and "Traceback" not in err
