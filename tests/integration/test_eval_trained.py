"""``prefopt eval`` of a run's final/ finds the reference the run was trained against by itself."""

import json

import pytest

from prefopt.cli import main
from prefopt.config import ModelConfig
from prefopt.model.load import load_model, quickstart_tokenizer, resolve_source
from tests.integration.runs import train_tiny

SEED = 3


def eval_json(arguments: list[str], capsys) -> tuple[dict[str, float], str]:
    assert main(["eval", *arguments, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1]), out


@pytest.mark.slow
def test_eval_of_a_preset_run_compares_with_the_preset_it_started_from(tmp_path, capsys):
    final = train_tiny(tmp_path, "run", f"seed={SEED}").run_dir / "final"
    found, out = eval_json([f"model.path={final}"], capsys)
    assert f"reference: preset tiny (tokenizer quickstart) built with seed {SEED}" in out

    # the same evaluation told everything: the recorded settings, and the initial model saved as a directory
    initial = tmp_path / "initial"
    preset = ModelConfig(preset="tiny", tokenizer="quickstart")
    load_model(resolve_source(None, preset, len(quickstart_tokenizer()), SEED), "float32").save_pretrained(initial)
    told, _ = eval_json([str(final / "prefopt.yaml"), f"model.path={final}", f"model.reference_path={initial}"], capsys)
    assert found == pytest.approx(told, abs=1e-6)
    assert found["margin"] != 0  # the trained model is compared with another model, not with itself


def test_eval_on_the_training_file_says_how_many_examples_the_run_trained_on(tmp_path, capsys, ranked_file):
    result = train_tiny(tmp_path, "run", f"data.path={ranked_file}")
    final = result.run_dir / "final"
    metrics, out = eval_json([f"model.path={final}", f"data.eval_path={ranked_file}"], capsys)
    trained = metrics["examples"] - result.initial_metrics["examples"]  # all but the held-out examples
    assert metrics["trained_examples"] == trained > 0
    assert main(["eval", f"model.path={final}", f"data.eval_path={ranked_file}"]) == 0
    text = capsys.readouterr().out
    assert f"note: {trained} of the {int(metrics['examples'])} evaluated examples are in the training split" in text
    assert f"evaluated metric ({int(metrics['examples'])} examples)" in text
    assert "accuracy_se" not in text and "±" in text
