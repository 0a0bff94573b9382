"""Scorer discovery through entry points: the loss registry's guarantees hold for the ``prefopt.scorers`` group."""

from __future__ import annotations

import sys

import pytest

from prefopt.cli import main
from prefopt.registry import NO_PLUGINS_ENV, NameCollisionError, PluginLoadError, UnknownNameError
from prefopt.scoring import ScorerError, build_scorer, registry
from tests.checkout_plugins import SCORERS, checkout_entry_points

LENGTH_SCORER = """
def make(scale=1.0):
    '''Fake plugin scorer: the completion's length times scale.'''
    return lambda prompts, completions: [scale * len(c) for c in completions]
"""


def test_the_builtins_are_declared_entry_points_of_prefopt():
    assert set(checkout_entry_points()[SCORERS]) == {"vader", "hf-classifier"}
    for name in ("vader", "hf-classifier"):
        assert registry.provider(name).distribution == "prefopt"
        assert callable(registry.get(name))


def test_a_plugin_is_found_lazily_named_by_its_distribution_and_built_with_options(install):
    install("fakescorer", {"length": LENGTH_SCORER})
    assert "length" in registry.names()
    assert "fakescorer_length" not in sys.modules  # listing names imports nothing
    assert build_scorer("length", scale=2.0)(["p", "p"], ["abc", ""]) == [6.0, 0.0]
    assert str(registry.provider("length")) == "fakescorer 1.0"


def test_scorers_command_lists_builtins_plugins_and_problems(install, capsys):
    install("fakescorer", {"length": LENGTH_SCORER})
    install("fakebroken", {"broken": "raise ImportError('needs a package that is not installed')\n"})
    install("fakeexit", {"exiting": "import sys\nsys.exit('no classifier found')\n"})
    assert main(["scorers"]) == 0
    table, problems = capsys.readouterr().out.split("problems")
    rows = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}
    assert set(rows) == {"vader", "hf-classifier", "length"}
    assert "fakescorer 1.0" in rows["length"] and "Fake plugin scorer" in rows["length"]
    assert "prefopt" in rows["vader"] and "VADER" in rows["vader"]
    assert "broken: scorer 'broken' from distribution fakebroken 1.0" in problems
    assert "exiting: scorer 'exiting' from distribution fakeexit 1.0" in problems
    assert "SystemExit: no classifier found" in problems
    assert build_scorer("vader")(["", ""], ["great, wonderful", "awful, terrible"])[0] > 0


def test_an_entry_point_that_is_not_callable_is_a_clear_error(install):
    install("fakeodd", {"odd": "make = 42\n"})
    with pytest.raises(PluginLoadError, match=r"fakeodd 1\.0.*expected a scorer factory"):
        build_scorer("odd")


def test_two_distributions_providing_one_name_are_an_error_naming_both(install):
    install("fakeone", {"vader": LENGTH_SCORER})
    with pytest.raises(NameCollisionError, match=r"prefopt .*fakeone 1\.0|fakeone 1\.0.*prefopt "):
        build_scorer("vader")


def test_an_unknown_name_gets_a_did_you_mean_and_exit_status_2(tmp_path, capsys):
    with pytest.raises(UnknownNameError, match="did you mean 'vader'"):
        build_scorer("vadr")
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"prompt": "a", "responses": ["b", "c"]}\n')
    assert main(["score", str(samples), "--scorer", "vadr", "--out", str(tmp_path / "out.jsonl")]) == 2
    assert "did you mean 'vader'" in capsys.readouterr().err


def test_no_plugins_hides_third_party_scorers_but_keeps_builtins(install, monkeypatch):
    install("fakescorer", {"length": LENGTH_SCORER})
    monkeypatch.setenv(NO_PLUGINS_ENV, "1")
    registry.refresh()
    assert "length" not in registry.names() and {"vader", "hf-classifier"} <= set(registry.names())


def test_an_option_the_scorer_does_not_take_is_one_message_naming_the_scorer(install, tmp_path, capsys):
    install("fakescorer", {"length": LENGTH_SCORER})
    with pytest.raises(ScorerError, match=r"scorer 'length' from fakescorer 1\.0: .*'colour'"):
        build_scorer("length", colour="red")
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"prompt": "a", "responses": ["b", "c"]}\n')
    out = tmp_path / "out.jsonl"
    assert main(["score", str(samples), "--scorer", "vader", "--option", "colour=red", "--out", str(out)]) == 2
    assert "scorer 'vader' from prefopt" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [("[float('nan')] * len(completions)", "non-finite score"), ("[1.0]", "returned 1 scores for 2 completions")],
)
def test_scores_that_are_not_one_finite_number_per_completion_are_refused(install, body, message):
    install("fakebad", {"bad": f"def make():\n    return lambda prompts, completions: {body}\n"})
    with pytest.raises(ScorerError, match=message):
        build_scorer("bad")(["p", "p"], ["x", "y"])


def test_the_builtin_losses_stay_listed_beside_the_scorers():
    from prefopt.losses import registry as losses

    assert {"dpo", "plackett_luce", "ipo", "sft"} <= set(losses.names())


def test_in_process_registration_is_listed_and_usable(capsys):
    registry.register("constant", lambda: lambda prompts, completions: [1.0] * len(completions))
    try:
        assert build_scorer("constant")(["p"], ["x"]) == [1.0]
        assert main(["scorers"]) == 0
        rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
        assert rows["constant"] == ["constant", "<in-process>"]
    finally:
        registry.unregister("constant")
