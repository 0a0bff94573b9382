"""Mistakes in a command's input end with one clear message and exit status 2, not a traceback."""

import json

import pytest

from prefopt.cli import main
from prefopt.config import CACHE_DIR_VARIABLE, ConfigError, RunConfig
from prefopt.data.batch import TokenizedExample
from prefopt.model.load import quickstart_tokenizer
from prefopt.reference import cache_info
from prefopt.run.data import check_known_tokens
from tests.integration.runs import tiny_overrides


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["optim.learning_rate=3"], "optim.learning_rate: unknown key"),
        (["loss.name=dpp"], "did you mean 'dpo'"),
        (["loss.betta=1"], "loss 'dpo': option betta"),
        (["model.path=/no/such/model"], "does not exist"),
        (["data.path=/no/such/file.jsonl"], "does not exist"),
    ],
)
def test_train_input_errors_are_one_message(arguments, message, capsys, tmp_path):
    assert main(["train", *arguments, f"logging.output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prefopt train: ") and message in err
    assert "Traceback" not in err


def test_bad_row_names_file_row_and_field(capsys, tmp_path):
    data = tmp_path / "prefs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    assert main(["train", f"data.path={data}", f"logging.output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert f"{data}, row 2, field 'rejected'" in err


def test_bad_row_message_ends_with_the_way_out(capsys, tmp_path):
    data = tmp_path / "prefs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a", "rejected": ""}\n')
    assert main(["train", f"data.path={data}", f"logging.output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"prefopt train: {data}, row 2, field 'rejected'")
    assert err.endswith("; set data.on_error=skip to skip such rows and count them")


def test_misspelt_tokenizer_is_a_configuration_error_listing_the_choices(capsys, tmp_path):
    assert main(["train", "model.tokenizer=byte", f"logging.output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "model.tokenizer: Input should be 'bytes' or 'quickstart'" in err and "Traceback" not in err


def test_quickstart_tokenizer_on_text_it_does_not_know_is_refused(capsys, tmp_path):
    data = tmp_path / "prefs.jsonl"
    rows = [
        {"prompt": f"how do I bake bread number {i}?", "chosen": "Knead it well.", "rejected": "No."} for i in range(20)
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    arguments = [f"data.path={data}", "model.tokenizer=quickstart", f"logging.output_dir={tmp_path / 'run'}"]
    assert main(["train", *arguments]) == 2
    err = capsys.readouterr().err
    assert "model.tokenizer=quickstart maps" in err and "<unk>" in err and "set model.tokenizer=bytes" in err


def _examples(known: int, unknown: int, unknown_id: int) -> list[TokenizedExample]:
    """One example whose prompt and two responses hold ``known`` ordinary and ``unknown`` unknown tokens."""
    ids = [unknown_id] * unknown + [unknown_id + 1] * known
    return [TokenizedExample(key="k", prompt_ids=tuple(ids[:2]), response_ids=(tuple(ids[2:]), (7,)), ranks=(0, 1))]


def test_unknown_token_limit_is_five_percent_of_all_tokens():
    tokenizer = quickstart_tokenizer()
    config = RunConfig(model={"tokenizer": "quickstart"})
    check_known_tokens(_examples(94, 5, tokenizer.unk_token_id), tokenizer, config, "train")  # 5 of 100
    with pytest.raises(ConfigError, match="6% of the 100 tokens of the train examples"):
        check_known_tokens(_examples(93, 6, tokenizer.unk_token_id), tokenizer, config, "train")


@pytest.mark.parametrize("name", ["ipo", "sft"])
def test_a_loss_without_beta_trains_from_the_quickstart(name, tmp_path):
    assert main(["train", *tiny_overrides(tmp_path, name), f"loss.name={name}", "optim.max_steps=1"]) == 0


def test_cache_info_and_clear_find_the_directory_training_uses(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "default"))
    overrides = [item for item in tiny_overrides(tmp_path, "run") if not item.startswith("reference.cache_dir=")]
    assert main(["train", *overrides, "optim.max_steps=1"]) == 0
    digests = [entry.digest[:16] for entry in cache_info(tmp_path / "default")]
    assert len(digests) == 2
    capsys.readouterr()
    for arguments in ([], ["data.path=prefs.jsonl"]):  # the default, with or without a CONFIG or data.path
        assert main(["cache", "info", *arguments]) == 0
        listed = capsys.readouterr().out
        assert all(digest in listed for digest in digests)
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"reference: {{cache_dir: {tmp_path / 'other'}}}\n")
    assert main(["cache", "info", str(run_file)]) == 0
    assert f"no reference caches in {tmp_path / 'other'}" in capsys.readouterr().out
    assert main(["cache", "clear", f"reference.cache_dir={tmp_path / 'default'}", "--digest", digests[0]]) == 0
    assert main(["cache", "clear"]) == 0
    assert cache_info(tmp_path / "default") == []
