"""Data named as Hugging Face tools name it: a dataset repository with data_dir and split (read by
``datasets.load_dataset``), a ``save_to_disk`` directory, a Hub id; nothing reaches the network."""

from __future__ import annotations

import json

import datasets
import pytest

from prefopt.config import ConfigError, load_config
from prefopt.data import load_preferences
from prefopt.data.errors import PreferenceDataError
from prefopt.data.hub import open_dataset
from prefopt.model.load import byte_tokenizer
from prefopt.reference.fingerprint import dataset_hash
from prefopt.run.data import prepare_splits


def pairs(tag: str, count: int) -> list[dict]:
    return [{"prompt": f"{tag} prompt {i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(count)]


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture
def repository(tmp_path):
    """A dataset repository laid out like Anthropic/hh-rlhf: one folder per subset, one file per split."""
    root = tmp_path / "hh-like"
    for folder in ("helpful-base", "harmless-base"):
        for split, count in (("train", 5), ("test", 3)):
            write_jsonl(root / folder / f"{split}.jsonl", pairs(f"{folder} {split}", count))
    return root


def prompts(source) -> list[str]:
    examples, _ = load_preferences(source)
    return [example.prompt for example in examples]


def test_a_repository_folder_reads_the_data_dir_and_split_asked_for(offline_hub, repository):
    source = open_dataset(str(repository), data_dir="helpful-base", split="test")
    assert source.name == f"{repository} (data_dir helpful-base, split test)"
    assert prompts(source) == [record["prompt"] for record in pairs("helpful-base test", 3)]


def test_a_dataset_with_several_splits_needs_one_named(offline_hub, repository):
    with pytest.raises(PreferenceDataError, match=r"has splits \['test', 'train'\]; data.split names none of them"):
        open_dataset(str(repository), data_dir="harmless-base")
    with pytest.raises(PreferenceDataError, match=r"datasets.load_dataset \(data_dir harmless-base, split dev; .*dev"):
        open_dataset(str(repository), data_dir="harmless-base", split="dev")


def test_save_to_disk_directories_of_a_dataset_and_of_a_dataset_dict(tmp_path):
    records = pairs("saved", 4)
    datasets.Dataset.from_list(records).save_to_disk(tmp_path / "one")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(records), "test": datasets.Dataset.from_list(pairs("held", 2))}
    ).save_to_disk(tmp_path / "two")
    assert prompts(open_dataset(str(tmp_path / "one"))) == [r["prompt"] for r in records]
    assert prompts(open_dataset(str(tmp_path / "two"), split="test")) == ["held prompt 0", "held prompt 1"]
    with pytest.raises(PreferenceDataError, match="data.split names none"):
        open_dataset(str(tmp_path / "two"))
    with pytest.raises(PreferenceDataError, match="holds one Dataset saved without splits; data.split=test"):
        open_dataset(str(tmp_path / "one"), split="test")


def test_a_bad_row_of_a_saved_dataset_names_the_dataset_row_and_field(tmp_path):
    records = pairs("saved", 3)
    records[1]["rejected"] = "   "
    datasets.DatasetDict({"train": datasets.Dataset.from_list(records)}).save_to_disk(tmp_path / "saved")
    with pytest.raises(PreferenceDataError) as raised:
        load_preferences(open_dataset(str(tmp_path / "saved"), split="train"))
    assert str(raised.value) == f"{tmp_path}/saved (split train), row 2, field 'rejected': is empty"


def test_a_hub_id_that_resolves_to_nothing_says_what_was_tried(offline_hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PreferenceDataError) as raised:
        open_dataset("org/absent", data_dir="helpful-base", split="test")
    message = str(raised.value)
    assert message.startswith("org/absent: resolves to nothing: no local file or directory ")
    assert f"{tmp_path}/org/absent; as a Hub dataset id, datasets.load_dataset (data_dir helpful-base, split test;" in message
    assert f"cache {offline_hub.parent / 'datasets'}; the Hub is offline) failed: " in message


def test_files_and_plain_directories_are_read_as_before_and_refuse_dataset_settings(tmp_path):
    path = write_jsonl(tmp_path / "prefs.jsonl", pairs("file", 2))
    assert open_dataset(str(path)) == str(path)
    assert open_dataset(str(tmp_path)) == str(tmp_path)
    with pytest.raises(PreferenceDataError, match="is a file; data.subset, data.data_dir and data.split apply to"):
        open_dataset(str(path), split="train")


def test_dataset_settings_need_a_dataset():
    with pytest.raises(ConfigError, match="data: Value error, split, eval_split name part of a dataset; set data.path"):
        load_config(None, ["data.split=train", "data.eval_split=test"])


def test_the_same_content_gives_the_same_examples_whatever_the_container(offline_hub, tmp_path, repository):
    """The reference cache's dataset component hashes the examples' content: a file, a saved dataset and a
    repository split of the same rows agree, and held-out examples come from data.eval_split."""
    datasets.load_dataset(str(repository), data_dir="helpful-base").save_to_disk(tmp_path / "saved")
    tokenizer = byte_tokenizer()
    common = ["data.max_length=64", "data.max_prompt_length=32"]
    from_file = prepare_splits(
        load_config(
            None,
            [
                f"data.path={repository}/helpful-base/train.jsonl",
                f"data.eval_path={repository}/helpful-base/test.jsonl",
                *common,
            ],
        ),
        tokenizer,
    )
    from_repository = prepare_splits(
        load_config(
            None,
            [f"data.path={repository}", "data.data_dir=helpful-base", "data.split=train", "data.eval_split=test", *common],
        ),
        tokenizer,
    )
    from_disk = prepare_splits(
        load_config(None, [f"data.path={tmp_path}/saved", "data.split=train", "data.eval_split=test", *common]), tokenizer
    )
    for splits in (from_repository, from_disk):
        assert dataset_hash(splits.train) == dataset_hash(from_file.train)
        assert dataset_hash(splits.eval) == dataset_hash(from_file.eval)
    assert len(from_file.train) == 5 and len(from_file.eval) == 3
