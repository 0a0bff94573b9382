"""Helpers for small end-to-end runs: the tiny preset on generated quickstart-style data under tmp_path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from safetensors.torch import load_file

from prefopt import quickstart
from prefopt.config import load_config
from prefopt.engine.loop import TrainResult, train


def tiny_overrides(tmp_path: Path, name: str) -> list[str]:
    """key=value settings of a tiny, fast run writing into ``tmp_path / name``."""
    return [
        "model.preset=tiny",
        "model.tokenizer=quickstart",
        "data.quickstart_size=40",
        "data.eval_fraction=0.2",
        "data.max_length=32",
        "data.max_prompt_length=8",
        "optim.optimizer=adamw",
        "optim.lr=0.001",
        "optim.warmup_steps=0",
        "optim.batch_size=8",
        "optim.micro_batch_size=8",
        "optim.max_steps=3",
        "logging.log_every=1",
        "logging.eval_every=0",
        "logging.progress=false",
        f"logging.output_dir={tmp_path / name}",
        f"reference.cache_dir={tmp_path / 'cache'}",
    ]


def run_config(tmp_path: Path, name: str, overrides: list[str]):
    return load_config(None, tiny_overrides(tmp_path, name) + overrides)


def train_tiny(tmp_path: Path, name: str, *overrides: str, resume: bool = False) -> TrainResult:
    return train(run_config(tmp_path, name, list(overrides)), resume=resume)


def final_weights(result: TrainResult) -> dict[str, torch.Tensor]:
    return load_file(str(result.output_dir / "final" / "model.safetensors"))


def train_losses(result: TrainResult) -> list[float]:
    return [entry["loss"] for entry in result.history]


def write_ranked_file(path: Path, num_examples: int = 40, seed: int = 0) -> Path:
    """K = 3 rankings in the quickstart vocabulary: more adjectives of the requested tone rank higher."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for _ in range(num_examples):
            request = rng.choice(list(quickstart.TONES))
            wanted = quickstart.TONES[request]
            other = "negative" if wanted == "positive" else "positive"
            aspect = rng.choice(quickstart.ASPECTS)
            counts = rng.sample(range(4), 3)
            responses = []
            for matching in counts:
                tones = [wanted] * matching + [other] * (3 - matching)
                adjectives = [rng.choice(quickstart.ADJECTIVES[t]) for t in tones]
                responses.append(f"the {aspect} was {adjectives[0]} , {adjectives[1]} and {adjectives[2]}")
            ranking = sorted(range(3), key=lambda i: -counts[i])
            record = {"prompt": f"{request} the {aspect} : ", "responses": responses, "ranking": ranking}
            handle.write(json.dumps(record) + "\n")
    return path
