"""A cache directory that cannot be used (a file in its place, a directory in a cache file's place, no permission)
ends in one ReferenceCacheError naming the path; nothing is deleted to make room."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefopt.reference import ReferenceCache, ReferenceCacheError, cache_info, clear_cache, get_or_build
from prefopt.storage import StorageError
from tests.unit.reference.test_cache import examples, fingerprint_for, job_for, model  # noqa: F401 (fixtures)

DIGEST = "ab" * 32


def test_a_directory_where_the_cache_file_belongs_is_one_message(model, examples, tmp_path):  # noqa: F811
    job = job_for(examples, tmp_path, fingerprint_for(examples))
    squatter = tmp_path / f"{job.fingerprint.digest}.safetensors"
    squatter.mkdir()
    (squatter / "keep.txt").write_text("mine")
    with pytest.raises(ReferenceCacheError, match=f"{squatter} is not a file"):
        get_or_build(lambda: model, job)
    assert (squatter / "keep.txt").read_text() == "mine"


def test_a_file_where_the_cache_directory_belongs_is_one_message(model, examples, tmp_path):  # noqa: F811
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    job = job_for(examples, blocker, fingerprint_for(examples))
    with pytest.raises(ReferenceCacheError, match=f"{blocker} is a file, or lies under one"):
        get_or_build(lambda: model, job)
    with pytest.raises(ReferenceCacheError, match=f"cannot list the reference cache directory {blocker}"):
        cache_info(blocker)
    with pytest.raises(ReferenceCacheError, match=f"cannot list the reference cache directory {blocker}"):
        clear_cache(blocker)
    assert blocker.read_text() == "not a directory"


def _denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied", str(args[0]) if args else None)


def test_a_cache_directory_without_permission_is_one_message(model, examples, tmp_path, monkeypatch):  # noqa: F811
    # chmod does not stop root, who may run the suite, so the operating system's refusal is simulated
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "listdir", _denied)
    with pytest.raises(ReferenceCacheError, match=f"cannot list the reference cache directory {locked}: Permission"):
        cache_info(locked)
    monkeypatch.setattr(Path, "exists", _denied)
    with pytest.raises(ReferenceCacheError, match=f"cannot read the reference cache directory {locked}: Permission"):
        ReferenceCache.load(locked, DIGEST)
    monkeypatch.undo()
    monkeypatch.setattr(Path, "mkdir", _denied)
    with pytest.raises(StorageError, match=f"cannot write the reference cache {locked}/.*: Permission denied"):
        get_or_build(lambda: model, job_for(examples, locked, fingerprint_for(examples)))
