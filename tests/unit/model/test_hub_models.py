"""Models named by Hub id: resolved from a Hugging Face cache laid out on disk, with the Hub offline."""

from __future__ import annotations

import hashlib

import pytest
import torch

from prefopt.config import ConfigError, ModelConfig
from prefopt.hub_names import is_hub_id
from prefopt.model.load import ModelPathError, byte_tokenizer, load_model, load_tokenizer, resolve_source
from prefopt.reference.fingerprint import source_identity
from tests.conftest import make_tiny_llama
from tests.hub_cache import add_snapshot, commit_hash


def save_model(directory, seed: int = 0, **save_options):
    model = make_tiny_llama(vocab_size=300, seed=seed)
    model.save_pretrained(directory, **save_options)
    byte_tokenizer().save_pretrained(directory)
    return model


def resolve(path: str, revision: str | None = None, setting: str = "model.path"):
    return resolve_source(path, ModelConfig(), 0, 0, setting=setting, revision=revision)


def test_a_hub_id_loads_the_snapshot_its_revision_points_to(offline_hub, tmp_path):
    first, second = save_model(tmp_path / "v1", seed=1), save_model(tmp_path / "v2", seed=2)
    add_snapshot(offline_hub, "org/tiny-model", tmp_path / "v1", commit_hash("one"), ref="v1")
    add_snapshot(offline_hub, "org/tiny-model", tmp_path / "v2", commit_hash("two"), ref="main")
    for revision, commit, saved in [(None, "two", second), ("v1", "one", first), (commit_hash("one"), "one", first)]:
        source = resolve("org/tiny-model", revision)
        assert source.hub.commit == commit_hash(commit) and source.path is None
        loaded = load_model(source, "float32")
        for name, tensor in saved.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], tensor), (revision, name)
    tokenizer = load_tokenizer(ModelConfig(path="org/tiny-model", revision="v1"))
    assert tokenizer("héllo")["input_ids"] == byte_tokenizer()("héllo")["input_ids"]


def test_the_weight_files_are_those_from_pretrained_loads_every_shard_of_a_sharded_model(offline_hub, tmp_path):
    save_model(tmp_path / "sharded", max_shard_size="20KB")
    shards = sorted(p.name for p in (tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1
    add_snapshot(offline_hub, "org/sharded", tmp_path / "sharded", commit_hash("s"))
    assert [p.name for p in resolve("org/sharded").hub.weight_files] == shards


def test_the_identity_follows_the_commit_and_the_weights(offline_hub, tmp_path):
    save_model(tmp_path / "a", seed=1)
    save_model(tmp_path / "b", seed=2)
    add_snapshot(offline_hub, "org/m", tmp_path / "a", commit_hash("a"))
    before = source_identity(resolve("org/m"), None)
    assert source_identity(resolve("org/m"), None) == before  # an unchanged revision: the same identity
    add_snapshot(offline_hub, "org/m", tmp_path / "a", commit_hash("a-again"))  # moved, same files
    moved_same_files = source_identity(resolve("org/m"), None)
    add_snapshot(offline_hub, "org/m", tmp_path / "b", commit_hash("b"))  # moved, other weights
    moved_other_weights = source_identity(resolve("org/m"), None)
    assert len({before, moved_same_files, moved_other_weights}) == 3
    assert commit_hash("b") in moved_other_weights
    # the weight hashes are of the bytes loaded: the sha256 of the snapshot's files, independently computed
    hub = resolve("org/m").hub
    assert hub.weight_files[0].name == "model.safetensors"
    assert hub.weight_files[0].read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    expected = hashlib.sha256(f"org/m\0{commit_hash('b')}\0".encode())
    for name in ("config.json", "model.safetensors"):
        expected.update(f"{name}\0{hashlib.sha256((tmp_path / 'b' / name).read_bytes()).hexdigest()}\0".encode())
    assert moved_other_weights.endswith(":" + expected.hexdigest())


def test_a_name_that_resolves_to_nothing_says_what_was_tried(offline_hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelPathError) as raised:
        resolve("org/absent", setting="model.reference_path")
    message = str(raised.value)
    assert message.startswith("model.reference_path org/absent resolves to nothing: ")
    assert f"no local path {tmp_path / 'org' / 'absent'}" in message
    assert f"the Hugging Face cache {offline_hub}" in message and "HF_HUB_OFFLINE=1" in message
    assert "\n" not in message


def test_an_unknown_revision_is_named(offline_hub, tmp_path):
    save_model(tmp_path / "a")
    add_snapshot(offline_hub, "org/m", tmp_path / "a", commit_hash("a"))
    with pytest.raises(ModelPathError, match="no config.json at revision v9 in the Hugging Face cache"):
        resolve("org/m", "v9")


def test_a_snapshot_without_weights_or_with_a_broken_index_is_named(offline_hub, tmp_path):
    save_model(tmp_path / "a")
    (tmp_path / "a" / "model.safetensors").unlink()
    add_snapshot(offline_hub, "org/m", tmp_path / "a", commit_hash("a"))
    with pytest.raises(ModelPathError, match=f"commit {commit_hash('a')} has none of the weight files model.safet"):
        resolve("org/m")
    (tmp_path / "a" / "model.safetensors.index.json").write_text("[]")
    add_snapshot(offline_hub, "org/m", tmp_path / "a", commit_hash("b"))
    with pytest.raises(ModelPathError, match="model.safetensors.index.json of commit .* lists no shards"):
        resolve("org/m")


def test_a_revision_with_a_local_path_is_refused(tmp_path):
    save_model(tmp_path / "local")
    with pytest.raises(ConfigError, match=f"model.revision=v1 applies to a Hub id; model.path {tmp_path}/local is a"):
        resolve(str(tmp_path / "local"), "v1")


@pytest.mark.parametrize(
    "name,hub",
    [
        ("org/name", True),
        ("gpt2", True),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", True),
        ("./org/name", False),
        ("/abs/model", False),
        ("~/model", False),
        ("a/b/c", False),
        ("model.gguf", False),
        ("org/na me", False),
    ],
)
def test_hub_ids_are_told_from_paths(name, hub):
    assert is_hub_id(name) is hub
