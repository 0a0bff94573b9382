"""Every subcommand meets mistakes in its input with one message naming the path or setting and exit status 2,
never a traceback; under a launcher only rank 0 prints it."""

from __future__ import annotations

import json

import pytest

from prefopt.cli import main
from prefopt.model.load import byte_tokenizer

EXPECTED_MODEL = "expected a Hugging Face model directory (with config.json) or a .gguf file"


def run(arguments: list[str], capsys) -> tuple[int, str]:
    try:
        status = main(arguments)
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return status, captured.err


@pytest.fixture
def paths(tmp_path):
    """Wrong things to feed a command: an empty directory, a file, a non-GGUF .gguf, a model without tokenizer."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("text")
    (tmp_path / "fake.gguf").write_text("not gguf")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    untokenized = tmp_path / "untokenized"
    untokenized.mkdir()
    (untokenized / "config.json").write_text(json.dumps({"model_type": "llama"}))
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 300}))
    byte_tokenizer().save_pretrained(no_weights)
    return tmp_path


@pytest.mark.parametrize(
    "setting,message",
    [
        ("model.path={}/empty", "model.path {}/empty is a directory without config.json; " + EXPECTED_MODEL),
        ("model.path={}/file.txt", "model.path {}/file.txt is a file but not a GGUF file; " + EXPECTED_MODEL),
        ("model.path={}/fake.gguf", "model.path {}/fake.gguf is a file but not a GGUF file; " + EXPECTED_MODEL),
        ("model.path={}/absent", "model.path {}/absent does not exist; " + EXPECTED_MODEL),
        ("model.path={}/untokenized", "model.path {}/untokenized has no tokenizer: a model directory needs"),
        ("model.path={}/no-weights", "cannot load a causal LM from {}/no-weights: "),
        ("model.reference_path={}/empty", "model.reference_path {}/empty is a directory without config.json"),
        ("logging.output_dir={}/file.txt", "{}/file.txt: exists and is not a directory, where a directory is needed"),
        ("reference.cache_dir={}/file.txt", "{}/file.txt is a file, or lies under one, where a directory is needed"),
    ],
)
def test_train_input_mistakes_are_one_message_and_status_2(paths, capsys, setting, message):
    arguments = ["train", "data.quickstart_size=20", "optim.batch_size=8", "optim.micro_batch_size=8", "optim.max_steps=1"]
    arguments += [f"logging.output_dir={paths}/run", f"reference.cache_dir={paths}/cache", "logging.progress=false"]
    status, err = run([*arguments, setting.format(paths)], capsys)
    assert status == 2
    assert err.startswith("prefopt train: ") and message.format(paths) in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["cache", "info", "--dir", "{}/file.txt"], "prefopt cache: cannot list the reference cache directory"),
        (["cache", "clear", "--dir", "{}/file.txt"], "prefopt cache: cannot list the reference cache directory"),
        (["cache", "clear", "--digest", "feed", "--dir", "{}/empty"], "prefopt cache clear: no reference cache 'feed' in"),
        (["cache", "clear", "feed", "--dir", "{}/empty"], "prefopt cache: --dir and a configuration (feed) both choose"),
        (["cache", "build", "model.path={}/empty"], "prefopt cache: model.path"),
        (["eval", "data.quickstart_size=20"], "prefopt eval: loss 'dpo' compares the model with a reference"),
        (["eval", "model.path={}/empty", "model.reference_path={}/empty"], "prefopt eval: model.path"),
        (["eval", "{}/list.yaml"], "must be a mapping at the top level"),
        (["verify", "dpo", "--max-examples", "0"], "argument --max-examples: must be at least 1; got 0"),
        (["verify", "dpo", "--max-examples", "many"], "argument --max-examples: 'many' is not a whole number"),
    ],
)
def test_other_commands_input_mistakes_are_one_message_and_status_2(paths, capsys, arguments, message):
    status, err = run([argument.format(paths) for argument in arguments], capsys)
    assert status == 2
    assert message in err


def test_under_a_launcher_only_rank_0_prints_the_message(monkeypatch, capsys, tmp_path):
    arguments = ["train", "optim.learning_rate=1", f"logging.output_dir={tmp_path}"]
    for rank, printed in [("0", True), ("1", False)]:
        monkeypatch.setenv("RANK", rank)
        status, err = run(arguments, capsys)
        assert status == 2
        assert ("optim.learning_rate: unknown key" in err) is printed


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            ["{}/twice.yaml"],
            "configuration {}/twice.yaml: key 'optim' is given twice (lines 1 and 4); give each key once",
        ),
        (
            ["loss={{name: dpo, beta: 0.1"],
            "override 'loss={{name: dpo, beta: 0.1': not valid YAML: expected ',' or '}}'",
        ),
        (["optim.lr=.inf"], "optim.lr: Input should be a finite number"),
        (["loss.beta=1e400"], "loss: beta must be a finite number; got inf"),
        (
            ["data.max_length=4", "data.max_prompt_length=32"],
            "data.max_prompt_length (32) must be below data.max_length (4)",
        ),
    ],
)
def test_configuration_mistakes_are_one_message_naming_the_key_and_status_2(tmp_path, capsys, items, message):
    (tmp_path / "twice.yaml").write_text("optim:\n  lr: 1.0e-6\nseed: 1\noptim:\n  lr: 5.0\n")
    arguments = ["train", *(item.format(tmp_path) for item in items), f"logging.output_dir={tmp_path}/run"]
    status, err = run(arguments, capsys)
    assert status == 2
    assert err.startswith("prefopt train: ") and message.format(tmp_path) in err
