from pathlib import Path

import pytest

from prefopt.cli.common import config_from_arguments
from prefopt.config import CACHE_DIR_VARIABLE, ConfigError, RunConfig, dump_config, load_config
from prefopt.losses import build_loss


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


def test_user_data_or_config_file_start_from_the_documented_defaults(tmp_path):
    """The quickstart's toy settings (AdamW 1e-3, 64 tokens, its vocabulary, runs/quickstart) stay with its data."""
    defaults = RunConfig()
    run_file = tmp_path / "run.yaml"
    run_file.write_text("seed: 3\n")
    for items in (["data.path=hh/helpful-base/test.jsonl.gz"], [str(run_file)]):
        config = config_from_arguments(items)
        assert config.optim == defaults.optim
        assert config.data.max_length == defaults.data.max_length
        assert config.data.max_prompt_length == defaults.data.max_prompt_length
        assert config.model.tokenizer == "bytes"
        assert config.reference.cache_dir == defaults.reference.cache_dir
        assert config.logging.output_dir != "runs/quickstart"
    assert config_from_arguments(["data.path=hh/helpful-base/test.jsonl.gz"]).logging.output_dir == str(
        Path("runs/helpful-base-test")
    )


@pytest.mark.parametrize(
    "data_path,output_dir",
    [
        ("prefs.jsonl", "runs/prefs"),
        ("data/prefs.jsonl", "runs/data-prefs"),
        ("../shared/data/hh-rlhf/harmless-base/test.jsonl.gz", "runs/harmless-base-test"),
        ("../prefs.parquet", "runs/prefs"),
        ("corpora/hh/", "runs/corpora-hh"),
        (None, "runs/prefopt"),
    ],
)
def test_default_output_dir_is_named_after_the_data(data_path, output_dir):
    overrides = [] if data_path is None else [f"data.path={data_path}"]
    assert load_config(None, overrides).logging.output_dir == str(Path(output_dir))
    assert load_config(None, [*overrides, "logging.output_dir=elsewhere"]).logging.output_dir == "elsewhere"


@pytest.mark.parametrize("name", ["ipo", "sft"])
def test_a_new_loss_name_does_not_inherit_the_options_of_the_files_loss(tmp_path, name):
    run_file = tmp_path / "run.yaml"
    run_file.write_text("loss: {name: dpo, beta: 0.3, label_smoothing: 0.1}\n")
    for items in ([f"loss.name={name}"], [str(run_file), f"loss.name={name}"]):
        config = config_from_arguments(items)
        assert config.loss == {"name": name}
        assert build_loss(config.loss).name == name
    # options given beside the new name belong to it, in whichever order
    assert load_config(run_file, ["loss.tau=0.5", "loss.name=ipo"]).loss == {"name": "ipo", "tau": 0.5}
    assert load_config(run_file, ["loss.name=dpo"]).loss == {"name": "dpo", "beta": 0.3, "label_smoothing": 0.1}


def test_model_tokenizer_is_validated_with_the_configuration():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["model.tokenizer=byte", "optim.lr=-1"])
    message = str(error.value)
    assert "model.tokenizer: Input should be 'bytes' or 'quickstart'" in message
    assert "optim.lr" in message  # one message for every problem


def test_one_default_cache_directory_respects_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_DIR_VARIABLE, raising=False)
    assert RunConfig().reference.cache_dir == "~/.cache/prefopt/reference"
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path))
    for items in ([], ["data.path=prefs.jsonl"], ["optim.lr=0.1"]):
        assert config_from_arguments(items).reference.cache_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optim:\n  lr: 1.0e-6\nseed: 1\noptim:\n  lr: 5.0\n", "key 'optim' is given twice (lines 1 and 4)"),
        ("optim:\n  lr: 1.0e-6\n  warmup_steps: 0\n  lr: 5.0\n", "key 'optim.lr' is given twice (lines 2 and 4)"),
        (
            "loss:\n  - {name: dpo, beta: 0.1, beta: 0.5}\n",
            "key 'loss[0].beta' is given twice (line 2)",
        ),
    ],
)
def test_a_key_given_twice_in_a_file_is_an_error_naming_it_and_its_lines(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"configuration {path}: {message}; give each key once"


def test_a_key_given_beside_a_yaml_merge_is_no_duplicate(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("reference: &shared {batch_size: 8}\noptim: {<<: *shared, batch_size: 16}\n")
    assert load_config(path).optim.batch_size == 16


def test_an_override_giving_a_key_twice_or_not_yaml_is_an_error_naming_it():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["loss={name: dpo, beta: 0.1, beta: 0.5}"])
    assert str(error.value) == (
        "override 'loss={name: dpo, beta: 0.1, beta: 0.5}': key 'loss.beta' is given twice (line 1); give each key once"
    )
    with pytest.raises(ConfigError) as error:
        load_config(None, ["optim.lr=1e-5", "loss={name: dpo, beta: 0.1"])
    assert str(error.value).startswith("override 'loss={name: dpo, beta: 0.1': not valid YAML: expected ',' or '}'")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=.inf", "optim.lr: Input should be a finite number"),
        ("optim.lr=1e400", "optim.lr: Input should be a finite number"),
        ("optim.max_grad_norm=.nan", "optim.max_grad_norm: Input should be a finite number"),
        ("data.eval_fraction=-.inf", "data.eval_fraction: Input should be a finite number"),
        ("loss.beta=1e400", "loss: beta must be a finite number; got inf"),
        ("loss.beta=-.inf", "loss: beta must be a finite number; got -inf"),
        ("loss.beta=nan", "loss: beta must be a finite number; got nan"),
        ("loss=[{name: dpo}, {name: sft, weight: .inf}]", "loss: [1].weight must be a finite number; got inf"),
    ],
)
def test_non_finite_numbers_anywhere_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert message in str(error.value)


def test_numbers_with_an_exponent_read_as_numbers():
    config = load_config(None, ["optim.lr=1e-5", "loss.beta=2e-1"])
    assert (config.optim.lr, config.loss) == (1e-5, {"name": "dpo", "beta": 0.2})


def test_max_prompt_length_must_be_below_max_length():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["data.max_length=4", "data.max_prompt_length=32"])
    assert "data.max_prompt_length (32) must be below data.max_length (4)" in str(error.value)
    with pytest.raises(ConfigError):
        load_config(None, ["data.max_length=32", "data.max_prompt_length=32"])
    assert load_config(None, ["data.max_length=33", "data.max_prompt_length=32"]).data.max_length == 33
