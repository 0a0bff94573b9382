"""A Hugging Face Hub cache laid out on disk as ``huggingface_hub`` writes it, for tests that never reach the network.

``<cache>/models--org--name/`` holds ``blobs/<sha256>`` (the file contents), ``snapshots/<commit>/<file>`` (links to
the blobs) and ``refs/<branch>`` (the commit a branch points to); datasets live under ``datasets--org--name``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import pytest
from huggingface_hub import constants


def add_snapshot(cache: Path, repo_id: str, files: Path, commit: str, *, kind: str = "models", ref: str = "main") -> Path:
    """Put the files under ``files`` into ``cache`` as snapshot ``commit`` of ``repo_id`` and point ``ref`` at it;
    returns the snapshot directory."""
    repo = cache / f"{kind}--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for source in sorted(p for p in files.rglob("*") if p.is_file()):
        content = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / source.relative_to(files)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snapshot


def commit_hash(label: str) -> str:
    """A 40-hex commit id made from ``label``."""
    return hashlib.sha1(label.encode()).hexdigest()


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Path:
    """An empty Hub cache under ``tmp_path`` that this process uses, with the Hub offline; returns the cache."""
    cache = tmp_path / "hf-home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # huggingface_hub and datasets read their environment once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache.parent / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return cache
