"""Every run (train, eval, cache build) starts by printing the settings it resolved, in one block."""

import re

from prefopt.cli import main
from prefopt.losses import get_loss
from prefopt.reference import cache_info
from prefopt.run.summary import HEADER
from tests.integration.runs import tiny_overrides

QUICKSTART_SIZE = 40  # tiny_overrides: data.quickstart_size


def _block(output: str) -> dict[str, str]:
    """The printed settings block as {label: text}; exactly one block."""
    assert output.count(HEADER) == 1, output
    lines = output.split(HEADER + "\n", 1)[1].splitlines()
    rows = {}
    for line in lines:
        match = re.match(r"  (\w[\w-]*)\s{2,}(.*)", line)
        if not match:
            break
        rows[match.group(1)] = match.group(2)
    return rows


def _digests(cache_dir) -> list[str]:
    return [entry.digest[:16] for entry in cache_info(cache_dir)]


def test_train_prints_every_resolved_setting_and_the_cache_outcome(tmp_path, capsys):
    overrides = [*tiny_overrides(tmp_path, "run"), "loss.beta=0.25"]
    assert main(["train", *overrides]) == 0
    block = _block(capsys.readouterr().out)
    assert set(block) == {
        "model", "tokenizer", "data", "lengths", "loss", "optimizer", "batch", "steps", "precision", "reference",
        "output",
    }  # fmt: skip
    assert "preset tiny" in block["model"] and "seed 0" in block["model"]
    assert block["tokenizer"].startswith("quickstart")
    sizes = re.search(r"train (\d+), held-out (\d+)", block["data"])
    assert int(sizes.group(1)) + int(sizes.group(2)) == QUICKSTART_SIZE  # nothing skipped or dropped
    assert "skipped 0 rows" in block["data"] and "dropped 0" in block["data"] and "truncated" in block["data"]
    assert "max_length 32" in block["lengths"] and "max_prompt_length 8" in block["lengths"]
    defaults = get_loss("dpo").options  # resolved: the options not given appear with their defaults
    assert block["loss"].startswith("dpo (") and "beta=0.25" in block["loss"]
    assert f"label_smoothing={defaults.label_smoothing}" in block["loss"]
    assert block["optimizer"].startswith("adamw, lr 0.001, warm-up 0 steps")
    assert block["batch"].startswith("8 prompts per step = 8 per forward pass x 1 accumulation")
    assert block["steps"].startswith("3 (optim.max_steps")
    assert block["precision"] == "weights float32, mixed precision no"
    assert block["output"] == str(tmp_path / "run")
    digests = _digests(tmp_path / "cache")
    assert len(digests) == 2
    assert str(tmp_path / "cache") in block["reference"]
    assert all(f"built {digest}" in block["reference"] for digest in digests)

    assert main(["train", *overrides, f"logging.output_dir={tmp_path / 'again'}"]) == 0
    again = _block(capsys.readouterr().out)["reference"]
    assert all(f"hit {digest}" in again for digest in digests) and "built" not in again


def test_reference_free_eval_and_cache_build_print_their_settings(tmp_path, capsys):
    assert main(["train", *tiny_overrides(tmp_path, "sft"), "loss=sft"]) == 0
    block = _block(capsys.readouterr().out)
    assert block["reference"] == "none (loss sft needs no reference)"
    assert block["loss"] == "sft (length_normalize=False, pairs=all)"

    final = tmp_path / "sft" / "final"
    assert (
        main(
            [
                "eval",
                *tiny_overrides(tmp_path, "eval"),
                f"model.path={final}",
                f"model.reference_path={final}",
                "loss=dpo",
            ]
        )
        == 0
    )
    block = _block(capsys.readouterr().out)
    assert block["model"] == str(final) and block["tokenizer"] == f"the model's, from {final}"
    assert re.search(rf"^{QUICKSTART_SIZE} examples", block["data"].split(": ", 1)[1])
    assert block["reference"].startswith(f"{final}; cache in {tmp_path / 'cache'}: built ")
    assert "steps" not in block and "output" not in block

    assert main(["cache", "build", *tiny_overrides(tmp_path, "built")]) == 0
    block = _block(capsys.readouterr().out)
    assert block["reference"].count("built ") == 2 and "loss" not in block


def test_bfloat16_on_a_cpu_without_bfloat16_instructions_is_warned_about_before_the_work(tmp_path, capsys, monkeypatch):
    import prefopt.model.precision as precision

    overrides = [*tiny_overrides(tmp_path, "run"), "optim.mixed_precision=bf16", "optim.max_steps=1"]
    monkeypatch.setattr(precision, "cpu_has_bfloat16_matmul", lambda: False)
    assert main(["train", *overrides]) == 0
    output = capsys.readouterr().out
    assert "warning: bfloat16 on a CPU without AVX-512 BF16 or AMX" in output
    assert output.index("warning: bfloat16") < output.index(HEADER)  # before the data, model and cache work

    monkeypatch.setattr(precision, "cpu_has_bfloat16_matmul", lambda: True)
    assert main(["train", *overrides, f"logging.output_dir={tmp_path / 'native'}"]) == 0
    assert "warning: bfloat16" not in capsys.readouterr().out
