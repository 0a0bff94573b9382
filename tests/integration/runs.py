"""Helpers for small end-to-end runs: the tiny preset on generated quickstart-style data under tmp_path."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from prefopt import quickstart
from prefopt.api import RunResult, train
from prefopt.config import load_config
from prefopt.engine.loop import Trainer


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


def train_tiny(tmp_path: Path, name: str, *overrides: str, resume: bool = False) -> RunResult:
    return train(run_config(tmp_path, name, list(overrides)), resume=resume)


def tiny_trainer(tmp_path: Path, name: str, *overrides: str) -> Trainer:
    """The Trainer of a tiny run, built as :func:`prefopt.train` builds it, for tests that look inside."""
    return Trainer.from_config(run_config(tmp_path, name, list(overrides)))


def final_weights(run: RunResult | Path) -> dict[str, torch.Tensor]:
    """The saved final weights of a run's result, or of the run directory ``run``."""
    model_path = run.model_path if isinstance(run, RunResult) else run / "final"
    return load_file(str(model_path / "model.safetensors"))


def train_losses(result: RunResult) -> list[float]:
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


REPO = Path(__file__).resolve().parents[2]

# Trains the tiny preset in a child process and stops it at a chosen point until the parent kills it:
# "step:K" blocks before the step with index K (K steps done), "final" once the model is in final.tmp.
_CHILD = """
import sys, time
from pathlib import Path
from prefopt.config import load_config
from prefopt import api
from prefopt.engine import loop

marker, where, overrides = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]


def block(*args, **kwargs):
    marker.write_text(where)
    time.sleep(600)


if where.startswith("step:"):
    blocked_step, train_step = int(where[5:]), loop.Trainer.train_step
    loop.Trainer.train_step = lambda self, step: block() if step == blocked_step else train_step(self, step)
else:
    save_final = loop.Trainer.save_final

    def blocking_save_final(self, initial, final):
        self.tokenizer.save_pretrained = block  # the model is written to final.tmp first
        save_final(self, initial, final)

    loop.Trainer.save_final = blocking_save_final
api.train(load_config(None, overrides))
"""


def start_blocked(tmp_path: Path, name: str, where: str, *overrides: str) -> subprocess.Popen:
    """Run the tiny preset in a subprocess and return it once it is blocked at ``where`` (see ``_CHILD``)."""
    marker = tmp_path / f"{name}.blocked"
    command = [sys.executable, "-c", _CHILD, str(marker), where, *tiny_overrides(tmp_path, name), *overrides]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {where}: {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run did not reach {where} in time")
        time.sleep(0.1)
    return process


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()


def train_until_killed(tmp_path: Path, name: str, where: str, *overrides: str) -> Path:
    """Run the tiny preset in a subprocess, SIGKILL it at ``where`` (see ``_CHILD``); returns its output dir."""
    kill(start_blocked(tmp_path, name, where, *overrides))
    return tmp_path / name


def reported_results(output_dir: Path) -> dict:
    """``final/report.json`` without its ``costs``, which are wall-clock measurements that differ from run to run."""
    report = json.loads((output_dir / "final" / "report.json").read_text())
    report.pop("costs")
    return report


def logged_lines(path: Path) -> list[dict]:
    """The lines of a metrics.jsonl without the wall-clock throughput, which differs from run to run."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "tokens_per_second"} for line in lines]
