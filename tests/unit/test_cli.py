"""Mistakes in a command's input end with one clear message and exit status 2, not a traceback."""

import pytest

from prefopt.cli import main


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
