"""Training in rounds end to end on the tiny preset: each round samples the policy the last round trained, trains
against the reference it should, and a run killed mid-training resumes to the weights of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from prefopt import quickstart
from prefopt.config import load_config
from prefopt.data.batch import collate
from prefopt.engine.loop import Trainer
from prefopt.iterative import load_rounds_config, rounds
from prefopt.iterative.policies import ModelRef, load_policy
from prefopt.iterative.run import generation_settings
from prefopt.sampling import sample_completions
from prefopt.scoring import registry
from prefopt.scoring.records import read_samples
from tests.integration.runs import REPO, final_weights

SCORER = "test-letters"


def letter_scorer():
    """The number of ASCII letters in the completion: deterministic, and sometimes tied."""
    return lambda prompts, completions: [sum(c.isascii() and c.isalpha() for c in text) for text in completions]


def register_scorer() -> None:
    registry.register(SCORER, letter_scorer, replace=True)


def rounds_overrides(tmp_path: Path, name: str, *extra: str) -> list[str]:
    """key=value settings of two fast rounds on the quickstart prompts, writing into ``tmp_path / name``."""
    prompts = tmp_path / "prompts.jsonl"
    if not prompts.exists():
        lines = [json.dumps({"prompt": f"{r} the {a} : "}) for r in quickstart.TONES for a in quickstart.ASPECTS]
        prompts.write_text("\n".join(lines) + "\n")
    return [
        "rounds=2",
        "k=3",
        "max_new_tokens=6",
        "sampling_batch_size=8",
        f"scorer.name={SCORER}",
        f"prompts.path={prompts}",
        "prompts.per_round=8",
        "prompts.eval_fraction=0.2",
        f"output_dir={tmp_path / name}",
        "train.model.preset=tiny",
        "train.model.tokenizer=bytes",
        "train.data.max_length=48",
        "train.data.max_prompt_length=24",
        "train.data.eval_fraction=0.25",
        "train.data.on_error=skip",
        "train.optim.optimizer=adamw",
        "train.optim.lr=0.001",
        "train.optim.warmup_steps=0",
        "train.optim.batch_size=4",
        "train.optim.micro_batch_size=4",
        "train.optim.max_steps=2",
        "train.logging.log_every=1",
        "train.logging.eval_every=0",
        "train.logging.save_every=1",
        "train.logging.progress=false",
        f"train.reference.cache_dir={tmp_path / (name + '-cache')}",
        *extra,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``runs(reference)``: the directory of an uninterrupted run with that reference, run once per module."""
    register_scorer()
    tmp_path, done = tmp_path_factory.mktemp("rounds"), {}

    def run(reference: str) -> Path:
        if reference not in done:
            config = load_rounds_config(None, rounds_overrides(tmp_path, reference, f"reference={reference}"))
            done[reference] = (rounds(config), config)
        return done[reference]

    yield run
    registry.unregister(SCORER)


def test_round_two_samples_the_policy_round_one_trained(runs):
    result, config = runs("fixed")
    out = result.output_dir
    round_two = read_samples(out / "round-02" / "samples.jsonl")
    prompts = [row["prompt"] for row in round_two]
    settings = generation_settings(config, 2, "train")

    def responses_of(model_dir: Path) -> list[list[str]]:
        tokenizer, model = load_policy(ModelRef(str(model_dir)), config.train)
        return [list(s.completions) for s in sample_completions(model, tokenizer, prompts, settings)]

    assert [row["responses"] for row in round_two] == responses_of(out / "round-01" / "train" / "final")
    assert [row["responses"] for row in round_two] != responses_of(out / "start")
    assert [r["sampled_from"] for r in result.reports] == [str(out / "start"), str(out / "round-01/train/final")]


def _summed_log_probs(model, prompt_ids, response_ids) -> float:
    """log pi(response | prompt) summed over the response's tokens, from one plain forward pass."""
    ids = torch.tensor([list(prompt_ids) + list(response_ids)])
    with torch.no_grad():
        log_probs = model(ids).logits[0].float().log_softmax(-1)
    positions = range(len(prompt_ids), ids.shape[1])
    return sum(float(log_probs[t - 1, ids[0, t]]) for t in positions)


@pytest.mark.parametrize(("reference", "expected"), [("fixed", "start"), ("moving", "round-01/train/final")])
def test_round_two_trains_against_the_reference_it_names(runs, reference, expected):
    result, _ = runs(reference)
    out = result.output_dir
    recorded = out / "round-02" / "train" / "final" / "prefopt.yaml"
    run_config = load_config(recorded)
    assert run_config.model.reference_path == str(out / expected)
    assert run_config.model.path == str(out / "round-01" / "train" / "final")
    rows = read_samples(out / "round-02" / "samples.jsonl")
    with Trainer.from_config(run_config, train=rows) as trainer:
        example = trainer.splits.train[0]
        served = trainer.reference(collate([example], trainer.tokenizer.pad_token_id))[0]
    model = AutoModelForCausalLM.from_pretrained(out / expected).eval()
    independent = [_summed_log_probs(model, example.prompt_ids, response) for response in example.response_ids]
    assert served[: len(independent)].tolist() == pytest.approx(independent, abs=1e-4)


_CHILD = """
import sys, time
from pathlib import Path
from prefopt.engine import loop
from prefopt.iterative import load_rounds_config, rounds
from tests.integration.test_rounds import register_scorer

marker, overrides = Path(sys.argv[1]), sys.argv[2:]
train_step = loop.Trainer.train_step


def blocking_train_step(self, step):
    if "round-02" in self.config.logging.output_dir and step == 1:
        marker.write_text("blocked")
        time.sleep(600)
    return train_step(self, step)


loop.Trainer.train_step = blocking_train_step
register_scorer()
rounds(load_rounds_config(None, overrides))
"""


def test_a_run_killed_in_round_two_resumes_to_the_weights_of_an_uninterrupted_one(runs, tmp_path):
    uninterrupted, _ = runs("fixed")
    overrides = rounds_overrides(tmp_path, "killed", "reference=fixed")
    marker = tmp_path / "blocked"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(marker), *overrides], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"the run ended before blocking: {child.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "the run did not reach round 2's second step in time"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    killed = tmp_path / "killed"
    assert (killed / "round-01" / "report.json").exists() and not (killed / "round-02" / "report.json").exists()
    assert [p.name for p in (killed / "round-02" / "train" / "checkpoints").iterdir()] == ["step-0000001"]

    resumed = rounds(load_rounds_config(None, overrides), resume=True)
    weights, expected = final_weights(resumed.model_path.parent), final_weights(uninterrupted.model_path.parent)
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[name], expected[name]) for name in weights)
    # the round's reference log-probs, built before the kill, are found again
    report = json.loads((resumed.model_path / "report.json").read_text())
    assert report["costs"]["reference"] == ["hit", "hit"]
    assert [r["round"] for r in resumed.reports] == [1, 2]
