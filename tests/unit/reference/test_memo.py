"""The file-hash memo: a memo of the wrong shape, or one that cannot be read or written, costs a rehash and a
warning naming it, never a crash and never a wrong model identity."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest

from prefopt.reference import MEMO_NAME, model_identity


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "config.json").write_text('{"hidden_size": 4}')
    (directory / "model.safetensors").write_bytes(b"weights" * 100)
    return directory


def identity_without_memo(model_dir: Path) -> str:
    """The identity from the definition: sha256 over each file's relative name and sha256, in sorted order."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        digest.update(f"{name}\0{hashlib.sha256((model_dir / name).read_bytes()).hexdigest()}\0".encode())
    return "files:" + digest.hexdigest()


def entry_of(file: Path, sha256: object) -> dict:
    stat = file.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3", "null", "{not json"])
def test_a_memo_that_is_no_object_is_ignored_with_a_warning_and_rebuilt(model_dir, tmp_path, content):
    memo = tmp_path / MEMO_NAME
    memo.write_text(content)
    with pytest.warns(RuntimeWarning, match=f"ignoring the file-hash memo {memo}"):
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)
    rebuilt = json.loads(memo.read_text())
    assert sorted(Path(path).name for path in rebuilt) == ["config.json", "model.safetensors"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt memo is used without complaint
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)


@pytest.mark.parametrize(
    "bad_value",
    [
        5,  # a hash that is no string
        "0" * 63,  # too short for a sha256
        "not hex " * 8,
        None,
    ],
)
def test_malformed_entries_are_dropped_and_never_trusted(model_dir, tmp_path, bad_value):
    weights = model_dir / "model.safetensors"
    memo = tmp_path / MEMO_NAME
    memo.write_text(json.dumps({str(weights.resolve()): entry_of(weights, bad_value), "other": [1]}))
    with pytest.warns(RuntimeWarning, match="ignoring 2 malformed entries"):
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)


def test_entries_with_wrong_size_or_time_types_are_dropped(model_dir, tmp_path):
    weights = model_dir / "model.safetensors"
    good = entry_of(weights, "0" * 64)  # a well-formed entry is trusted (see test_fingerprint); these are not
    entries = {str(weights.resolve()): {**good, "size": str(good["size"])}, "x": {**good, "mtime_ns": True}}
    memo = tmp_path / MEMO_NAME
    memo.write_text(json.dumps(entries))
    with pytest.warns(RuntimeWarning, match="ignoring 2 malformed entries"):
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)


def test_a_directory_in_the_memo_s_place_is_left_alone_with_a_warning(model_dir, tmp_path):
    memo = tmp_path / MEMO_NAME
    memo.mkdir()
    (memo / "keep.txt").write_text("mine")
    with pytest.warns(RuntimeWarning) as caught:
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)
    assert [str(w.message) for w in caught] == [
        f"ignoring the file-hash memo {memo}: it is a directory, left as it is; file hashes are recomputed instead"
    ]
    assert (memo / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_memo_that_cannot_be_saved_is_a_warning(model_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    memo = blocker / MEMO_NAME  # its directory would have to be made under a file
    with pytest.warns(RuntimeWarning, match=f"cannot save the file-hash memo {memo}"):
        assert model_identity(model_dir, memo=memo) == identity_without_memo(model_dir)
