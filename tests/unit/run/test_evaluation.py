"""``prefopt eval`` of a prefopt-trained final/ reads the prefopt.yaml recorded beside it for its settings and
its reference, unless the command line says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefopt.cli.eval import evaluation_setup
from prefopt.config import ConfigError, dump_config, load_config
from prefopt.run.evaluation import require_reference


def trained_final(tmp_path: Path, *recorded: str) -> Path:
    """A final/ directory holding only the prefopt.yaml that training records (the settings ``recorded``)."""
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    (final / "prefopt.yaml").write_text(dump_config(load_config(None, list(recorded))))
    return final


def test_a_preset_run_is_evaluated_against_its_preset_and_seed_with_its_data_settings(tmp_path):
    final = trained_final(tmp_path, "seed=7", "model.tokenizer=quickstart", "data.max_length=480", "loss.beta=0.3")
    setup = evaluation_setup([f"model.path={final}"])
    assert setup.config.model.path == str(final)
    assert setup.config.data.max_length == 480 and setup.config.loss == {"name": "dpo", "beta": 0.3}
    reference = require_reference(setup, "dpo")
    assert (reference.model.path, reference.model.reference_path) == (None, None)  # the preset is built
    assert (reference.model.preset, reference.model.tokenizer, reference.seed) == ("tiny", "quickstart", 7)
    assert f"built with seed 7 (the initial model recorded in {final / 'prefopt.yaml'})" in setup.lines[-1]


def test_a_run_from_a_model_directory_is_evaluated_against_that_model(tmp_path):
    final = trained_final(tmp_path, "model.path=/models/sft")
    setup = evaluation_setup([f"model.path={final}"])
    reference = require_reference(setup, "dpo")
    assert reference.model.reference_path == "/models/sft"
    assert setup.lines[-1].startswith("reference: /models/sft (the initial model.path recorded in")


def test_a_recorded_reference_path_wins_over_the_initial_model(tmp_path):
    final = trained_final(tmp_path, "model.path=/models/base", "model.reference_path=/models/sft")
    for items in ([f"model.path={final}"], [str(_write(tmp_path / "eval.yaml", "{}")), f"model.path={final}"]):
        assert require_reference(evaluation_setup(items), "dpo").model.reference_path == "/models/sft"


def test_the_command_line_overrides_the_recorded_settings_and_reference(tmp_path):
    final = trained_final(tmp_path, "seed=7", "data.max_length=480")
    setup = evaluation_setup([f"model.path={final}", "data.max_length=640", "model.reference_path=/models/other"])
    assert setup.config.data.max_length == 640
    assert require_reference(setup, "dpo").model.reference_path == "/models/other"
    assert "from the command line" in setup.lines[-1]


def test_a_config_file_replaces_the_recorded_settings_but_not_the_reference(tmp_path):
    final = trained_final(tmp_path, "seed=7", "data.max_length=480")
    config = _write(tmp_path / "eval.yaml", "data:\n  max_length: 960\n")
    setup = evaluation_setup([str(config), f"model.path={final}"])
    assert setup.config.data.max_length == 960
    assert require_reference(setup, "dpo").seed == 7


def test_a_model_without_a_recorded_configuration_needs_a_reference_path(tmp_path):
    (tmp_path / "model").mkdir()
    setup = evaluation_setup([f"model.path={tmp_path / 'model'}"])
    assert setup.reference is None
    with pytest.raises(ConfigError, match="loss 'dpo' compares the model with a reference; set model.reference_path"):
        require_reference(setup, "dpo")


def test_a_broken_recorded_configuration_names_its_file(tmp_path):
    final = trained_final(tmp_path)
    (final / "prefopt.yaml").write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match=f"configuration {final / 'prefopt.yaml'} must be a mapping"):
        evaluation_setup([f"model.path={final}"])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
