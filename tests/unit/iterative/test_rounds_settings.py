"""The rounds configuration, the prompt plan, the clustered standard error and the output-directory checks: what
fails before any model is loaded."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prefopt.cli import main
from prefopt.config import ConfigError
from prefopt.data.errors import PreferenceDataError
from prefopt.iterative import load_rounds_config
from prefopt.iterative.config import dump_rounds_config
from prefopt.iterative.measure import clustered_mean
from prefopt.iterative.prompts import plan_prompts
from prefopt.iterative.run import rounds


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"text": f"prompt {i}"}) + "\n" for i in range(10)))
    return path


def settings(prompts_file, *overrides):
    return load_rounds_config(None, [f"prompts.path={prompts_file}", "prompts.field=text", *overrides])


def test_overrides_reach_the_training_section_and_unknown_keys_are_named(prompts_file):
    config = settings(prompts_file, "train.loss.name=ipo", "train.loss.beta=0.5", "k=3")
    assert config.train.loss == {"name": "ipo", "beta": 0.5} and config.k == 3
    with pytest.raises(ConfigError, match=r"prompts\.size: unknown key"):
        settings(prompts_file, "prompts.size=3")
    with pytest.raises(ConfigError, match=r"train\.optim\.learning_rate: unknown key"):
        settings(prompts_file, "train.optim.learning_rate=0.1")
    with pytest.raises(ConfigError, match="train.model.reference_path is set by the rounds"):
        settings(prompts_file, "train.model.reference_path=somewhere")


def test_a_rounds_file_is_read_as_run_configurations_are(prompts_file, tmp_path):
    path = tmp_path / "rounds.yaml"
    path.write_text(f"prompts: {{path: {prompts_file}, field: text}}\ntrain:\n  optim: {{lr: 1e-5}}\n")
    assert load_rounds_config(path).train.optim.lr == 1e-5  # a number, as in a run configuration
    path.write_text(f"prompts: {{path: {prompts_file}, field: text}}\nk: 3\nk: 5\n")
    with pytest.raises(ConfigError, match=r"key 'k' is given twice \(lines 2 and 3\)"):
        load_rounds_config(path)


def test_fresh_slices_are_disjoint_and_apart_from_the_held_out_prompts(prompts_file):
    plan = plan_prompts(settings(prompts_file, "rounds=3", "prompts.pool=fresh", "prompts.per_round=3"))
    slices = [plan.for_round(r) for r in (1, 2, 3)]
    assert len(plan.held_out) == 1 and all(len(part) == 3 for part in slices)
    every = [prompt for part in [plan.held_out, *slices] for prompt in part]
    assert len(set(every)) == len(every) == 10
    reused = plan_prompts(settings(prompts_file, "rounds=3", "prompts.per_round=3"))
    assert reused.for_round(1) == reused.for_round(3)


def test_a_fresh_pool_that_runs_out_is_refused_with_the_counts(prompts_file):
    with pytest.raises(ConfigError, match=r"rounds x per_round = 12 prompts.*leaves 9 for training after 1 held out"):
        plan_prompts(settings(prompts_file, "rounds=4", "prompts.pool=fresh", "prompts.per_round=3"))


def test_a_bad_prompt_row_names_file_row_and_field(prompts_file):
    prompts_file.write_text(prompts_file.read_text() + '{"text": ""}\n')
    with pytest.raises(PreferenceDataError, match=r"prompts\.jsonl, row 11, field 'text': is empty"):
        plan_prompts(settings(prompts_file))


def test_the_standard_error_is_that_of_the_per_prompt_means():
    scores = [[1.0, 2.0, 4.0], [0.0, 0.5, 0.5], [3.0, 3.0, 2.0], [-1.0, 0.0, 1.0]]
    means = np.array(scores).mean(axis=1)
    result = clustered_mean(scores)
    assert result["mean"] == pytest.approx(np.mean(scores))
    assert result["se"] == pytest.approx(means.std(ddof=1) / math.sqrt(len(means)))
    assert clustered_mean([[1.0, 2.0]])["se"] is None


def test_an_existing_run_is_not_overwritten_and_resumes_only_with_its_settings(prompts_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = settings(prompts_file, f"output_dir={out}", "scorer.name=no-such-scorer")
    (out / "rounds.yaml").write_text(dump_rounds_config(config))
    with pytest.raises(ConfigError, match="holds a rounds run"):
        rounds(config)
    changed = settings(prompts_file, f"output_dir={out}", "scorer.name=no-such-scorer", "k=5", "rounds=9")
    with pytest.raises(ConfigError, match=r"other settings \(then -> now\): k 4 -> 5; on resume"):
        rounds(changed, resume=True)


def test_the_command_line_reports_a_configuration_mistake_with_exit_status_2(prompts_file, capsys):
    assert main(["rounds", f"prompts.path={prompts_file}", "temperature=0"]) == 2
    assert "temperature: Input should be greater than 0" in capsys.readouterr().err


def test_every_rounds_key_is_documented():
    from pathlib import Path

    from prefopt.iterative.config import PromptsConfig, RoundsConfig, ScorerSpec

    text = (Path(__file__).resolve().parents[3] / "docs" / "rounds.md").read_text()
    keys = [*RoundsConfig.model_fields]
    keys += [f"prompts.{key}" for key in PromptsConfig.model_fields] + [
        f"scorer.{key}" for key in ScorerSpec.model_fields
    ]
    missing = [key for key in keys if key not in ("prompts", "scorer") and f"`{key}`" not in text]
    assert not missing, f"undocumented rounds keys: {missing}"


def test_the_documented_recipe_for_a_real_model_is_a_valid_rounds_configuration(tmp_path):
    from pathlib import Path

    from prefopt.iterative import load_rounds_config

    text = (Path(__file__).resolve().parents[3] / "docs" / "rounds.md").read_text()
    recipe = text.split("cat > my-rounds.yaml <<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    (tmp_path / "my-rounds.yaml").write_text(recipe)
    config = load_rounds_config(tmp_path / "my-rounds.yaml")
    assert config.train.loss["name"] == "plackett_luce" and config.prompts.pool == "fresh"
