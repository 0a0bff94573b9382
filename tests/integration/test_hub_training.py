"""``prefopt train model.path=org/tiny-model data.path=org/prefs`` with the Hub offline: the model from a Hugging
Face cache, the dataset by name from a local dataset repository folder, read by data_dir and split."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from prefopt.model.load import byte_tokenizer
from tests.conftest import make_tiny_llama
from tests.hub_cache import add_snapshot, commit_hash
from tests.integration.runs import REPO


def write_repository(root):
    """Two splits of pairwise preferences under ``root/helpful-base``."""
    for split, count in (("train", 8), ("test", 4)):
        folder = root / "helpful-base"
        folder.mkdir(parents=True, exist_ok=True)
        rows = [{"prompt": f"{split} question {i}?", "chosen": f"yes {i}", "rejected": f"no {i}"} for i in range(count)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.mark.slow
def test_train_a_hub_model_from_the_offline_cache(tmp_path):
    home = tmp_path / "hf-home"
    model = make_tiny_llama(vocab_size=300, seed=3)
    model.save_pretrained(tmp_path / "saved")
    byte_tokenizer().save_pretrained(tmp_path / "saved")
    add_snapshot(home / "hub", "org/tiny-model", tmp_path / "saved", commit_hash("tiny"))
    write_repository(tmp_path / "org" / "prefs")  # a clone of the dataset repository org/prefs
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    env.pop("HF_HUB_CACHE", None)
    env.pop("HF_DATASETS_CACHE", None)
    command = [
        sys.executable, "-m", "prefopt", "train",
        "model.path=org/tiny-model",
        "data.path=org/prefs", "data.data_dir=helpful-base", "data.split=train", "data.eval_split=test",
        "data.max_length=48", "data.max_prompt_length=24",
        "optim.batch_size=4", "optim.micro_batch_size=4", "optim.max_steps=2", "optim.warmup_steps=0",
        "logging.progress=false", "logging.plots=false",
        f"logging.output_dir={tmp_path / 'run'}", f"reference.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model      org/tiny-model\n" in done.stdout
    assert "data       org/prefs (data_dir helpful-base) split train (format auto" in done.stdout
    assert "train 8, held-out 4 from split test" in done.stdout
    report = json.loads((tmp_path / "run" / "final" / "report.json").read_text())
    assert report["model"] == {"path": "org/tiny-model", "revision": "main", "commit": commit_hash("tiny")}
    trained = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    initial = model.state_dict()
    assert any(not torch.equal(trained[name], initial[name]) for name in trained if name in initial)
