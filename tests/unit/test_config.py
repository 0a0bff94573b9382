import pytest

from prefopt.cli.common import config_from_arguments
from prefopt.config import ConfigError, RunConfig, dump_config, load_config


def test_defaults_follow_the_paper():
    config = RunConfig()
    assert config.optim.optimizer == "rmsprop"
    assert config.optim.lr == 1e-6
    assert config.optim.warmup_steps == 150
    assert config.optim.batch_size == 64
    assert config.loss == {"name": "dpo"}


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.001\nloss: ipo\n")
    config = load_config(path, ["optim.batch_size=16", "loss.tau=0.5", "data.path=x.jsonl"])
    assert config.optim.lr == 0.001
    assert config.optim.batch_size == 16
    assert config.loss == {"name": "ipo", "tau": 0.5}
    assert config.data.path == "x.jsonl"


def test_unknown_keys_and_invalid_values_are_named(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(None, ["optim.learning_rate=1", "optim.batch_size=-3"])
    message = str(error.value)
    assert "optim.learning_rate: unknown key" in message
    assert "optim.batch_size" in message


def test_batch_must_divide_into_micro_batches():
    with pytest.raises(ConfigError, match="multiple of optim.micro_batch_size"):
        load_config(None, ["optim.batch_size=10", "optim.micro_batch_size=4"])


def test_malformed_override_and_yaml(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["optim.lr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_dumped_config_loads_back_identically(tmp_path):
    config = load_config(None, ["loss.beta=0.25", "model.dtype=bfloat16"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_cli_arguments_default_to_the_bundled_quickstart():
    config = config_from_arguments(["optim.lr=0.01"])
    assert config.model.tokenizer == "quickstart"
    assert config.optim.lr == 0.01
