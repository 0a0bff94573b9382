"""Loss discovery through entry points, with fake installed distributions (``.dist-info`` folders on sys.path)."""

from __future__ import annotations

import sys

import pytest
import torch

import prefopt
from prefopt.cli import main
from prefopt.losses import LossOptionsError, loss_problems, registry
from prefopt.registry import IN_PROCESS, NO_PLUGINS_ENV, NameCollisionError, PluginLoadError, UnknownNameError
from prefopt.verify import check_loss
from tests.checkout_plugins import installed_plugins
from tests.integration.runs import tiny_overrides

GOOD_MODULE = """
import torch.nn.functional as F
from prefopt import Declarations, LossOutput, define_loss

@define_loss("{name}", declarations=Declarations(needs_reference=False))
def loss(scores, options):
    '''Fake plugin loss: -log sigma(log pi(y_w) - log pi(y_l)).'''
    margin = scores.policy[:, 0] - scores.policy[:, 1]
    return LossOutput(loss=-F.logsigmoid(margin), rewards=scores.policy.detach())
"""


# declarations that raise while the option ``strict`` is True; ``{strict}`` is its default
RAISING_DECLARATIONS = """
import torch.nn.functional as F
from pydantic import Field
from prefopt import Declarations, LossOptions, LossOutput, define_loss

class Options(LossOptions):
    strict: bool = Field({strict})

def declare(options):
    if options.strict:
        raise RuntimeError("declarations need a setting this plugin cannot read")
    return Declarations(needs_reference=False)

@define_loss("{name}", options=Options, declarations=declare)
def loss(scores, options):
    margin = scores.policy[:, 0] - scores.policy[:, 1]
    return LossOutput(loss=-F.logsigmoid(margin), rewards=scores.policy.detach())
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(dist, {loss_name: module_source})`` fakes an installed distribution providing those losses.

    Each loss lives in its own module ``<dist>_<loss_name>`` exposing ``loss``; the registry is refreshed so the
    next lookup rediscovers entry points, and everything is undone after the test.
    """
    with installed_plugins(tmp_path, monkeypatch, "prefopt.losses", "loss", registry) as install:
        yield install


def pair_scores() -> prefopt.Scores:
    return prefopt.Scores(policy=torch.tensor([[-1.0, -2.0]]), reference=torch.tensor([[-1.5, -1.5]]))


def test_a_plugin_is_found_lazily_and_named_by_its_distribution(install):
    install("fakeplugin", {"fake_loss": GOOD_MODULE.format(name="fake_loss")})
    assert "fake_loss" in registry.names()
    assert "fakeplugin_fake_loss" not in sys.modules  # listing names imports nothing
    loss = prefopt.get_loss("fake_loss")
    assert float(loss(pair_scores()).loss) == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(1.0)).item())
    assert str(registry.provider("fake_loss")) == "fakeplugin 1.0"


def test_a_broken_plugin_is_reported_and_the_others_stay_usable(install):
    install("fakebroken", {"broken_loss": "raise ImportError('needs a package that is not installed')\n"})
    with pytest.raises(PluginLoadError, match=r"fakebroken 1\.0.*needs a package that is not installed"):
        prefopt.get_loss("broken_loss")
    problems = {p.name: str(p.error) for p in loss_problems()}
    assert "fakebroken 1.0" in problems["broken_loss"]
    assert "broken_loss" not in {info.name for info in prefopt.list_losses()}
    assert prefopt.get_loss("dpo")(pair_scores()).loss.isfinite()


def test_a_plugin_that_exits_on_import_or_whose_declarations_raise_is_listed_as_a_problem(install, capsys, tmp_path):
    install("fakeexit", {"exit_loss": "import sys\nsys.exit('no accelerator found')\n"})
    install("fakedeclare", {"declare_loss": RAISING_DECLARATIONS.format(name="declare_loss", strict=True)})
    assert main(["losses"]) == 0
    table, problems = capsys.readouterr().out.split("problems")
    listed = {line.split()[0] for line in table.splitlines()[1:] if line.strip()}
    assert {"dpo", "plackett_luce", "ipo"} <= listed and not {"exit_loss", "declare_loss"} & listed
    assert "exit_loss: loss 'exit_loss' from distribution fakeexit 1.0" in problems
    assert "SystemExit: no accelerator found" in problems
    assert "declare_loss: loss 'declare_loss' from distribution fakedeclare 1.0" in problems
    assert "RuntimeError: declarations need a setting this plugin cannot read" in problems
    with pytest.raises(PluginLoadError, match=r"fakeexit 1\.0.*SystemExit"):
        prefopt.get_loss("exit_loss")
    with pytest.raises(PluginLoadError, match=r"fakedeclare 1\.0.*declarations for the default options raise"):
        prefopt.get_loss("declare_loss")

    # the other losses still verify and train
    assert main(["verify", "hinge", "--max-examples", "3"]) == 0
    assert "0 failed" in capsys.readouterr().out
    assert main(["train", *tiny_overrides(tmp_path, "run"), "loss.name=dpo", "optim.max_steps=1"]) == 0


def test_declarations_that_raise_for_the_given_options_are_an_options_error_naming_the_provider(install):
    install("fakelenient", {"lenient_loss": RAISING_DECLARATIONS.format(name="lenient_loss", strict=False)})
    assert prefopt.get_loss("lenient_loss").declarations.needs_reference is False
    with pytest.raises(LossOptionsError, match=r"'lenient_loss' from fakelenient 1\.0: .*these options raise Runtime"):
        prefopt.get_loss("lenient_loss", strict=True)


def test_a_keyboard_interrupt_while_importing_a_plugin_is_not_swallowed(install):
    install("fakeinterrupt", {"interrupt_loss": "raise KeyboardInterrupt\n"})
    with pytest.raises(KeyboardInterrupt):
        prefopt.get_loss("interrupt_loss")


def test_a_plugin_taking_a_builtin_name_does_not_fail_the_checks_of_other_builtins(install, capsys):
    install("fakecollide", {"dpo": GOOD_MODULE.format(name="dpo")})
    with pytest.raises(NameCollisionError):
        prefopt.get_loss("dpo")
    (result,) = check_loss("plackett_luce", max_examples=10, properties=["k2_equals_dpo"])
    assert result.passed, result.counterexample
    assert main(["verify", "plackett_luce", "--max-examples", "5"]) == 0
    assert "PASS  k2_equals_dpo" in capsys.readouterr().out


def test_two_distributions_providing_one_name_are_an_error_naming_both(install):
    install("fakeone", {"shared_loss": GOOD_MODULE.format(name="shared_loss")})
    install("faketwo", {"shared_loss": GOOD_MODULE.format(name="shared_loss"), "dpo": GOOD_MODULE.format(name="dpo")})
    with pytest.raises(NameCollisionError, match=r"fakeone 1\.0 and faketwo 1\.0|faketwo 1\.0 and fakeone 1\.0"):
        prefopt.get_loss("shared_loss")
    with pytest.raises(NameCollisionError, match=r"prefopt .*faketwo 1\.0|faketwo 1\.0.*prefopt "):
        prefopt.get_loss("dpo")
    assert {"shared_loss", "dpo"} <= {p.name for p in loss_problems()}


def test_an_unknown_name_gets_a_did_you_mean(install):
    install("fakeplugin", {"fake_loss": GOOD_MODULE.format(name="fake_loss")})
    with pytest.raises(UnknownNameError, match="did you mean 'fake_loss'"):
        prefopt.get_loss("fake_los")
    with pytest.raises(UnknownNameError, match="did you mean 'dpo'"):
        prefopt.get_loss("dop")


def test_no_plugins_hides_third_party_losses_but_keeps_builtins(install, monkeypatch):
    install("fakeplugin", {"fake_loss": GOOD_MODULE.format(name="fake_loss")})
    assert "fake_loss" in registry.names()
    monkeypatch.setenv(NO_PLUGINS_ENV, "1")
    registry.refresh()
    names = registry.names()
    assert "fake_loss" not in names and "simpo" not in names
    assert "dpo" in names and "plackett_luce" in names
    monkeypatch.delenv(NO_PLUGINS_ENV)
    registry.refresh()
    assert "fake_loss" in registry.names()


def test_an_entry_point_that_is_not_a_loss_definition_is_a_clear_error(install):
    install("fakeodd", {"odd_loss": "def loss(scores, options):\n    return None\n"})
    with pytest.raises(PluginLoadError, match=r"fakeodd 1\.0.*expected a LossDefinition made with prefopt.define_loss"):
        prefopt.get_loss("odd_loss")


def test_a_definition_registered_under_another_name_is_an_error(install):
    install("fakemisnamed", {"entry_name": GOOD_MODULE.format(name="defined_name")})
    with pytest.raises(PluginLoadError, match="named 'defined_name' but registered as 'entry_name'"):
        prefopt.get_loss("entry_name")


def test_register_loss_in_process_and_its_collisions():
    @prefopt.register_loss("notebook_loss", declarations=prefopt.Declarations(needs_reference=False))
    def notebook_loss(scores, options):
        """Prefers longer log-probs."""
        return prefopt.LossOutput(loss=-scores.policy[:, 0], rewards=scores.policy.detach())

    try:
        assert float(prefopt.get_loss("notebook_loss")(pair_scores()).loss) == 1.0
        assert registry.provider("notebook_loss").distribution == IN_PROCESS
        with pytest.raises(NameCollisionError, match=r"already provided by <in-process>"):
            prefopt.register_loss(notebook_loss)
        with pytest.raises(NameCollisionError, match=r"'dpo' is already provided by prefopt "):
            prefopt.register_loss("dpo")(notebook_loss.function)
        prefopt.register_loss(notebook_loss, replace=True)  # an explicit override is allowed
    finally:
        registry.unregister("notebook_loss")
    assert "notebook_loss" not in registry.names()


def test_losses_command_lists_providers_and_problems(install, capsys):
    install("fakeplugin", {"fake_loss": GOOD_MODULE.format(name="fake_loss")})
    install("fakebroken", {"broken_loss": "raise RuntimeError('boom')\n"})
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    table, problems = out.split("problems")
    rows = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}
    assert rows["dpo"].split()[1:4] == ["pairwise", "yes", "prefopt"]
    assert "fakeplugin 1.0" in rows["fake_loss"] and " no " in rows["fake_loss"]
    assert "broken_loss" in problems and "fakebroken 1.0" in problems and "boom" in problems


def test_losses_show(capsys):
    assert main(["losses", "show", "dpo"]) == 0
    out = capsys.readouterr().out
    assert "beta = 0.1" in out and "bradley_terry: True" in out and "prefopt 0.1.0" in out
    assert main(["losses", "show", "ipp"]) == 2
    assert "did you mean 'ipo'" in capsys.readouterr().err


def test_unregister_removes_only_in_process_registrations():
    from prefopt.registry import RegistryError

    with pytest.raises(RegistryError, match="not <in-process>"):
        registry.unregister("dpo")
    assert prefopt.get_loss("dpo").name == "dpo"
