"""What prefopt says about how it was launched."""

import pytest
from accelerate import Accelerator

from prefopt.config import ConfigError
from prefopt.engine.distributed import shard_on_cpu, single_cpu_launch_note


def test_accelerate_launch_cpu_is_told_it_runs_one_process():
    note = single_cpu_launch_note({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1"})
    assert note is not None and "runs one process" in note and "--multi_gpu --num_processes N" in note


def test_no_note_for_torchrun_or_a_plain_run():
    assert single_cpu_launch_note({"ACCELERATE_USE_CPU": "True", "WORLD_SIZE": "2", "RANK": "0"}) is None
    assert single_cpu_launch_note({}) is None


def test_fsdp1_on_cpu_is_refused_before_anything_is_sharded(monkeypatch):
    # torch's FSDP1 rejects the CPU device accelerate hands it ("cpu vs cpu:0"); FSDP2 runs there
    monkeypatch.setenv("FSDP_VERSION", "1")
    with pytest.raises(ConfigError, match=r"FSDP on CPU needs FSDP_VERSION=2 .*; got 1"):
        shard_on_cpu(Accelerator(cpu=True), "no")
