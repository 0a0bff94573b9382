"""A fresh process's first forward pass computes as every later one (prefopt.model.vector_math): its held-out
evaluation before training reproduces a reference cache that another process wrote, bit for bit."""

import json
import os
import subprocess
import sys

import pytest

from tests.integration.runs import REPO, tiny_trainer

# Builds the tiny run (its reference caches are hits) and evaluates it before training: the first forward pass of
# the process. Without the vector math settled first, about one fresh process in eight on 2 cores computed it
# with inaccurate rotary embeddings (margins of about 1e-7 instead of 0).
_CHILD = """
import json, sys
from pathlib import Path
from tests.integration.runs import tiny_trainer

tmp_path, name = Path(sys.argv[1]), sys.argv[2]
with tiny_trainer(tmp_path, name) as trainer:
    (tmp_path / f"{name}.json").write_text(json.dumps(trainer.evaluate()))
"""

FRESH_PROCESSES = 5


@pytest.mark.slow
def test_first_forward_of_fresh_processes_reproduces_a_cache_written_by_another(tmp_path):
    with tiny_trainer(tmp_path, "writer") as writer:  # computes the reference caches in this process
        assert writer.evaluate()["margin"] == 0.0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for child in range(FRESH_PROCESSES):
        name = f"fresh-{child}"
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path), name], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        metrics = json.loads((tmp_path / f"{name}.json").read_text())
        # every example's log-ratio is exactly 0: policy and reference log-probs agree in every bit
        assert (metrics["margin"], metrics["margin_se"], metrics["accuracy"]) == (0.0, 0.0, 0.5), (child, metrics)
