"""A real two-process run (CPU, gloo) equals one process accumulating the same global batch."""

import json
import re
import subprocess
import sys

import pytest
import torch

from tests.integration.runs import final_weights, tiny_overrides, train_tiny

# two processes average their gradients in a different order than one process accumulating them
DISTRIBUTED_ATOL = 1e-6


# the two launchers docs/distributed.md gives for several processes on CPU
LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_processes_train_like_one_with_accumulation(tmp_path, launcher):
    settings = ["optim.batch_size=8", "optim.micro_batch_size=4", "optim.max_steps=3", "optim.warmup_steps=2"]
    command = [*LAUNCHERS[launcher], "-m", "prefopt", "train", *tiny_overrides(tmp_path, "two"), *settings]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "8 prompts per step = 4 per forward pass x 1 accumulation x 2 process(es)" in completed.stdout
    two = tmp_path / "two"
    one = train_tiny(tmp_path, "one", *settings)

    for name, value in final_weights(one).items():
        assert torch.allclose(value, final_weights(two)[name], atol=DISTRIBUTED_ATOL), name
    logged = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in logged if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3]
    assert [line["lr"] for line in train_lines] == [h["lr"] for h in one.history]  # one schedule step per step
    assert [line["loss"] for line in train_lines] == pytest.approx([h["loss"] for h in one.history], abs=1e-6)
    report = json.loads((two / "final" / "report.json").read_text())
    assert report["final_eval"]["accuracy"] == pytest.approx(one.final_metrics["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_a_configuration_mistake_under_torchrun_is_one_message_from_rank_0(tmp_path):
    # 8 prompts cannot be split into micro-batches of 8 on each of 2 processes
    settings = ["optim.batch_size=8", "optim.micro_batch_size=8", "optim.max_steps=1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "prefopt", "train", *tiny_overrides(tmp_path, "run"), *settings]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = completed.stdout + completed.stderr
    message = "prefopt train: optim.batch_size (8) must be a multiple of optim.micro_batch_size (8) times the number"
    assert output.count(message) == 1, output[-3000:]
    # torchrun ends the other process once one fails and reports the first failure's exit status
    root_cause = output.split("Root Cause", 1)[1]
    assert re.search(r"exitcode\s*:\s*2 ", root_cause), output[-3000:]
    assert re.search(r'File "[^"]*prefopt/', output) is None, output[-3000:]  # no traceback from prefopt
    assert "[rank" not in output, output[-3000:]
    assert not (tmp_path / "run" / "final").exists()
