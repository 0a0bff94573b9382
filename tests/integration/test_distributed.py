"""A real two-process run (CPU, gloo), DDP or FSDP2, equals one process accumulating the same global batch."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tests.integration.runs import final_weights, tiny_overrides, train_tiny

# two processes average their gradients in a different order than one process accumulating them
DISTRIBUTED_ATOL = 1e-6
# 8 prompts in 2 micro-batches per step, on 2 processes or accumulated on one
TWO_MICRO_BATCHES = ["optim.batch_size=8", "optim.micro_batch_size=4", "optim.max_steps=3", "optim.warmup_steps=2"]


# the two launchers docs/distributed.md gives for several processes on CPU
LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"],
}


def train_on_two_processes(launcher: str, tmp_path: Path, name: str, *settings: str, env=None) -> Path:
    """The tiny run ``name`` on two processes started by ``launcher``; returns its output directory."""
    command = [*LAUNCHERS[launcher], "-m", "prefopt", "train", *tiny_overrides(tmp_path, name), *settings]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "8 prompts per step = 4 per forward pass x 1 accumulation x 2 process(es)" in completed.stdout
    return tmp_path / name


def assert_weights_close(one: dict[str, torch.Tensor], two: dict[str, torch.Tensor]) -> None:
    assert one.keys() == two.keys()
    for name, value in one.items():
        assert torch.allclose(value, two[name], atol=DISTRIBUTED_ATOL), name


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_processes_train_like_one_with_accumulation(tmp_path, launcher):
    two = train_on_two_processes(launcher, tmp_path, "two", *TWO_MICRO_BATCHES)
    one = train_tiny(tmp_path, "one", *TWO_MICRO_BATCHES)

    assert_weights_close(final_weights(one), final_weights(two))
    logged = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in logged if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3]
    assert [line["lr"] for line in train_lines] == [h["lr"] for h in one.history]  # one schedule step per step
    assert [line["loss"] for line in train_lines] == pytest.approx([h["loss"] for h in one.history], abs=1e-6)
    report = json.loads((two / "final" / "report.json").read_text())
    assert report["final_eval"]["accuracy"] == pytest.approx(one.final_metrics["accuracy"], abs=1e-6)


# the sharding settings of fsdp.yaml in docs/distributed.md, as the environment accelerate reads them from
FSDP2_ENVIRONMENT = {
    "ACCELERATE_USE_FSDP": "true",
    "FSDP_VERSION": "2",
    "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
    "FSDP_TRANSFORMER_CLS_TO_WRAP": "LlamaDecoderLayer",
}


def cache_tensors(cache_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {path.name: load_file(path) for path in sorted(cache_dir.glob("*.safetensors"))}


@pytest.mark.slow
def test_fsdp2_on_two_cpu_processes_trains_like_one_with_accumulation(tmp_path):
    fsdp_cache = tmp_path / "fsdp-cache"
    settings = [*TWO_MICRO_BATCHES, "logging.save_every=3", f"reference.cache_dir={fsdp_cache}"]
    environment = {**os.environ, **FSDP2_ENVIRONMENT}
    fsdp = train_on_two_processes("torchrun", tmp_path, "fsdp", *settings, env=environment)
    # accelerate checkpoints a sharded model only under FSDP (DDP writes model.safetensors)
    assert (fsdp / "checkpoints" / "step-0000003" / "pytorch_model_fsdp_0").is_dir()
    one = train_tiny(tmp_path, "one", *TWO_MICRO_BATCHES)

    assert_weights_close(final_weights(one), final_weights(fsdp))
    reloaded = AutoModelForCausalLM.from_pretrained(fsdp / "final")
    assert reloaded.lm_head.weight is reloaded.get_input_embeddings().weight  # the tiny preset's tie survives
    for name, value in final_weights(fsdp).items():
        assert torch.equal(reloaded.get_parameter(name), value), name
    built_by_two, built_by_one = cache_tensors(fsdp_cache), cache_tensors(tmp_path / "cache")
    assert built_by_two.keys() == built_by_one.keys() and len(built_by_one) == 2  # training and held-out examples
    for file, tensors in built_by_one.items():
        assert tensors.keys() == built_by_two[file].keys()
        assert all(torch.equal(tensors[name], built_by_two[file][name]) for name in tensors), file


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
