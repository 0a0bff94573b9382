"""The Python API: training and evaluation on records held in memory, sharing the reference cache by content."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import prefopt
from prefopt import quickstart
from prefopt.data.errors import PreferenceDataError
from prefopt.types import RankedExample
from tests.integration.runs import tiny_overrides


def _settings(tmp_path, name: str, **loss) -> dict:
    """The tiny run of tests/integration/runs.py as a nested mapping, writing into ``tmp_path / name``."""
    tree: dict = {}
    for item in tiny_overrides(tmp_path, name):
        key, value = item.split("=", 1)
        *sections, leaf = key.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    tree["loss"] = {"name": "dpo", **loss}
    return tree


def _cache_files(tmp_path) -> set[str]:
    return {path.name for path in (tmp_path / "cache").glob("*.safetensors")}


def test_two_betas_train_from_records_in_memory_and_share_one_reference_cache(tmp_path):
    records = quickstart.generate(40, seed=3)  # dicts in the pairwise format, never written to a file
    train, held_out = records[:32], records[32:]
    first = prefopt.train(_settings(tmp_path, "beta-0.1", beta=0.1), train=train, eval=held_out)
    built = _cache_files(tmp_path)
    second = prefopt.train(_settings(tmp_path, "beta-0.5", beta=0.5), train=train, eval=held_out)

    assert len(built) == 2 and _cache_files(tmp_path) == built  # train and held-out caches, hit the second time
    report = json.loads((second.model_path / "report.json").read_text())
    assert report["costs"]["reference"] == ["hit", "hit"]
    assert json.loads((first.model_path / "report.json").read_text())["costs"]["reference"] == ["built", "built"]
    for result in (first, second):
        assert result.model_path == result.run_dir / "final" and (result.model_path / "model.safetensors").is_file()
        assert {"accuracy", "margin", "loss"} <= result.final_metrics.keys()
        assert result.initial_metrics["accuracy"] == 0.5  # the policy starts as the reference: every margin 0
    # both runs read the same reference log-probs
    assert first.initial_metrics["logps/reference/rank0"] == second.initial_metrics["logps/reference/rank0"]


def test_records_in_memory_and_in_a_file_are_the_same_examples_to_the_cache(tmp_path):
    records = quickstart.generate(40, seed=5)
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    from_file = _settings(tmp_path, "file")
    from_file["data"].update({"path": str(path), "eval_fraction": 0.0})
    prefopt.train(from_file, train=None, eval=records[:8])
    in_memory = prefopt.train(_settings(tmp_path, "memory"), train=records, eval=records[:8])
    assert json.loads((in_memory.model_path / "report.json").read_text())["costs"]["reference"] == ["hit", "hit"]


def test_ranked_examples_train_and_evaluate_like_their_dicts(tmp_path):
    def ranked(record: dict) -> RankedExample:
        return RankedExample(record["prompt"], (record["chosen"], record["rejected"]), (0, 1))

    records = quickstart.generate(40, seed=7)
    result = prefopt.train(
        _settings(tmp_path, "ranked"), train=[ranked(r) for r in records[:32]], eval=[ranked(r) for r in records[32:]]
    )
    config = _settings(tmp_path, "unused")
    config["model"] = {"path": str(result.model_path)}
    as_dicts = prefopt.evaluate(config, data=records[32:])
    as_examples = prefopt.evaluate(config, data=[ranked(r) for r in records[32:]])
    assert as_dicts == as_examples
    assert as_dicts["accuracy"] == pytest.approx(result.final_metrics["accuracy"])


def test_a_bad_record_in_memory_is_named_by_its_position(tmp_path):
    records = quickstart.generate(10, seed=1)
    records[4] = {"prompt": "praise the plot :", "chosen": "", "rejected": "the plot was dull , weak and bland"}
    with pytest.raises(PreferenceDataError, match=r"records, row 5.*chosen"):
        prefopt.train(_settings(tmp_path, "bad"), train=records)


def test_a_callback_sees_every_step_with_the_policy(tmp_path):
    seen = []

    def on_step(end: prefopt.StepEnd) -> None:
        seen.append((end.step, end.metrics["loss"], end.policy.training))
        end.policy.eval()  # the loop puts it back in training mode

    result = prefopt.train(_settings(tmp_path, "callback"), on_step=on_step)
    assert [step for step, _, _ in seen] == [1, 2, 3]
    assert [loss for _, loss, _ in seen] == [line["loss"] for line in result.history]  # log_every=1
    assert all(training for _, _, training in seen)


def test_the_python_api_example_of_the_concepts_page_runs(tmp_path, monkeypatch, capsys):
    page = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
    example = next(block for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if "prefopt.train" in block)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFOPT_CACHE_DIR", str(tmp_path / "cache"))
    exec(compile(example, str(page), "exec"), {})
    printed = capsys.readouterr().out
    assert "runs/beta-0.1/final" in printed and "runs/beta-0.5/final" in printed
    assert (tmp_path / "runs" / "beta-0.5" / "final" / "model.safetensors").is_file()
    report = json.loads((tmp_path / "runs" / "beta-0.5" / "final" / "report.json").read_text())
    assert report["costs"]["reference"] == ["hit", "hit"]


def test_the_settings_block_says_where_records_in_memory_came_from(tmp_path, capsys):
    records = quickstart.generate(40, seed=9)
    prefopt.train(_settings(tmp_path, "named"), train=records[:32], eval=records[32:])
    data_line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("data "))
    assert "records in memory" in data_line and "held-out 8 from records in memory" in data_line
    assert "quickstart" not in data_line
