"""A real two-process run (CPU, gloo) equals one process accumulating the same global batch."""

import json
import subprocess
import sys

import pytest
import torch

from tests.integration.runs import final_weights, tiny_overrides, train_tiny

# two processes average their gradients in a different order than one process accumulating them
DISTRIBUTED_ATOL = 1e-6


@pytest.mark.slow
def test_two_processes_train_like_one_with_accumulation(tmp_path):
    settings = ["optim.batch_size=8", "optim.micro_batch_size=4", "optim.max_steps=3", "optim.warmup_steps=2"]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "prefopt",
        "train",
        *tiny_overrides(tmp_path, "two"),
        *settings,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    two = tmp_path / "two"
    one = train_tiny(tmp_path, "one", *settings)

    for name, value in final_weights(one).items():
        assert torch.allclose(value, final_weights(type(one)(two, 0, {}, {}))[name], atol=DISTRIBUTED_ATOL), name
    logged = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in logged if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3]
    assert [line["lr"] for line in train_lines] == [h["lr"] for h in one.history]  # one schedule step per step
    assert [line["loss"] for line in train_lines] == pytest.approx([h["loss"] for h in one.history], abs=1e-6)
    report = json.loads((two / "final" / "report.json").read_text())
    assert report["final_eval"]["accuracy"] == pytest.approx(one.final_eval["accuracy"], abs=1e-6)
