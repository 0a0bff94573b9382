"""report.json records a run's cost beside its result: wall time per phase, tokens/s, peak memory, the reference's
origin; with logging.plots the run ends with its PNG curves."""

from __future__ import annotations

import json
import time

import pytest

from prefopt.api import train
from prefopt.config import ConfigError
from prefopt.engine.stream import step_micro_batches
from prefopt.model.load import load_tokenizer
from prefopt.run import builder
from prefopt.run.costs import SECONDS_DECIMALS
from prefopt.run.data import prepare_splits
from tests.integration.runs import run_config, train_tiny


def trained_tokens(config) -> int:
    """Prompt plus response tokens of every response of every example each step trains on (recomputed here)."""
    examples = prepare_splits(config, load_tokenizer(config.model)).train
    optim, total = config.optim, 0
    for step in range(optim.max_steps):
        for indices in step_micro_batches(len(examples), config.seed, step, optim.batch_size, optim.micro_batch_size, 0, 1):
            for i in indices:
                prompt = len(examples[i].prompt_ids)
                total += sum(prompt + len(response) for response in examples[i].response_ids)
    return total


@pytest.mark.slow
def test_report_records_wall_times_throughput_memory_and_the_reference_origin(tmp_path):
    started = time.perf_counter()
    first = train_tiny(tmp_path, "first", "logging.plots=true")
    elapsed = time.perf_counter() - started
    second = train_tiny(tmp_path, "second")  # the same reference: both caches hit
    costs = json.loads((first.model_path / "report.json").read_text())["costs"]
    again = json.loads((second.model_path / "report.json").read_text())["costs"]
    assert costs["reference"] == ["built", "built"] and again["reference"] == ["hit", "hit"]
    seconds = costs["wall_seconds"]
    assert set(seconds) == {"setup", "reference", "training", "evaluation", "checkpoints"}
    assert all(value >= 0 for value in seconds.values()) and seconds["training"] > 0 and seconds["evaluation"] > 0
    # each phase is rounded to SECONDS_DECIMALS, at most half a unit of the last place up
    assert sum(seconds.values()) <= elapsed + len(seconds) * 0.5 * 10**-SECONDS_DECIMALS
    assert costs["training_tokens"] == trained_tokens(run_config(tmp_path, "first", []))
    # the figures agree as written, whatever the machine's speed: tokens/s is shown to one decimal
    assert abs(costs["tokens_per_second"] - costs["training_tokens"] / seconds["training"]) <= 0.05 + 1e-9
    assert costs["peak_memory"]["bytes"] > 0
    assert [path.name for path in first.plots] == [
        "loss.png", "accuracy.png", "margin.png", "rewards.png", "logps.png", "lr.png", "grad_norm.png"
    ]  # fmt: skip
    assert all(path.parent == first.run_dir / "plots" and path.is_file() for path in first.plots)
    assert second.plots == [] and not (second.run_dir / "plots").exists()


def test_plots_asked_for_without_matplotlib_stop_the_run_before_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(builder, "plotting_available", lambda: False)
    monkeypatch.setattr(builder, "load_tokenizer", None)  # nothing is loaded: calling it would fail differently
    with pytest.raises(ConfigError, match=r"logging.plots=true needs matplotlib: pip install 'prefopt\[plot\]'"):
        train(run_config(tmp_path, "run", ["logging.plots=true"]))
