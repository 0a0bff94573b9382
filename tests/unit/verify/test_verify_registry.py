"""Properties are plugins of ``prefopt.properties``: the built-ins first in the order of docs/theory.md §8, then
installed plugins' properties named by their distribution, then those defined in the running process; a property
module that fails to load is a problem that hides nothing else."""

from __future__ import annotations

import importlib

import pytest
import torch.nn.functional as F

from prefopt import Declarations, LossOutput, register_loss
from prefopt.cli import main
from prefopt.losses import registry as losses
from prefopt.registry import BUILTIN_DISTRIBUTION, IN_PROCESS
from prefopt.verify import (
    PROPERTIES,
    Property,
    Violation,
    check_loss,
    list_properties,
    property_problems,
    register_property,
    unless_claimed,
    unless_declared,
)
from prefopt.verify.catalogue import registry
from prefopt.verify.property import DEFINED
from tests.checkout_plugins import PROPERTIES as GROUP
from tests.checkout_plugins import checkout_entry_points, installed_plugins, write_distribution

BUILTIN_ORDER = [
    "inputs_unchanged",
    "finite_float32",
    "finite_bfloat16",
    "bounded_below",
    "batch_mean",
    "batch_order",
    "k_padding",
    "reference_used",
    "reference_ignored",
    "shift_policy",
    "shift_reference",
    "length_normalization",
    "monotone",
    "target_margin",
    "bradley_terry_value",
    "bradley_terry_gradient",
    "uniform_policy",
    "k2_equals_dpo",
    "tabular_optimum",
    "rewards_order",
    "rewards_bradley_terry",
    "tie_symmetry",
    "breslow_ties",
]

# a property module as a plugin ships it: one property that a claim of the plugin's loss calls for
CLAIMED_PROPERTY = """
from prefopt.verify import Violation, register_property, unless_claimed

@register_property("{name}", "the loss is below 100 on one pair", skip=unless_claimed("{name}"))
def check(loss, budget):
    import torch
    from prefopt import Scores
    value = float(loss(Scores(policy=torch.tensor([[-1.0, -2.0]]), reference=torch.tensor([[-1.0, -1.0]]))).loss)
    if not value < 100:
        raise Violation(f"loss {{value}}")
"""


@pytest.fixture
def scratch_properties():
    """Forget the properties a test defines, so the catalogue is left as it was."""
    names = set(DEFINED)
    yield
    for name in set(DEFINED) - names:
        del DEFINED[name]
    registry.refresh()


@pytest.fixture
def install(tmp_path, monkeypatch, scratch_properties):
    """``install(dist, {entry_name: module_source})`` fakes an installed distribution providing property modules."""
    with installed_plugins(tmp_path, monkeypatch, GROUP, None, registry) as install:
        yield install


@pytest.fixture
def claiming_loss():
    """``claims_it``: a DPO-like pairwise loss that claims ``fake_claim``."""

    @register_loss("claims_it", declarations=Declarations(claims=frozenset({"fake_claim"})))
    def claims_it(scores, options):
        """-log sigma(h_w - h_l)."""
        h = scores.log_ratio()
        return LossOutput(loss=-F.logsigmoid(h[:, 0] - h[:, 1]), rewards=h.detach())

    yield "claims_it"
    losses.unregister("claims_it")


def test_builtin_properties_run_first_in_the_order_of_theory_section_8():
    builtin = [item.property.name for item in list_properties() if item.provider.distribution == BUILTIN_DISTRIBUTION]
    assert builtin == BUILTIN_ORDER
    assert list(PROPERTIES)[: len(BUILTIN_ORDER)] == BUILTIN_ORDER
    assert all(isinstance(p, Property) and p.name == name for name, p in PROPERTIES.items())
    assert checkout_entry_points()[GROUP] == {"prefopt": "prefopt.verify.properties"}  # one entry for the built-ins
    assert property_problems() == []


def test_a_property_defined_in_process_is_checked_last_with_its_statement(scratch_properties):
    seen = []

    @register_property("always_fails", "a property that no loss satisfies")
    def always_fails(loss, budget):
        seen.append((loss.name, budget.max_examples))
        raise Violation("observed a failure")

    assert list(PROPERTIES)[-1] == "always_fails"
    assert list_properties()[-1].provider.distribution == IN_PROCESS
    assert PROPERTIES["always_fails"].statement == "a property that no loss satisfies"
    assert PROPERTIES["always_fails"].check is always_fails
    results = check_loss("dpo", max_examples=3, properties=["monotone", "always_fails"])
    assert [(r.name, r.status) for r in results] == [("monotone", "PASS"), ("always_fails", "FAIL")]
    assert results[1].counterexample == "observed a failure"
    assert seen == [("dpo", 3)]


def test_a_skip_rule_is_applied_before_the_check(scratch_properties):
    @register_property("needs_listwise", "only for listwise losses", skip=unless_declared("listwise"))
    def needs_listwise(loss, budget):
        raise AssertionError("the check of a skipped property must not run")

    (result,) = check_loss("dpo", properties=["needs_listwise"])
    assert result.skipped_reason == "the loss does not declare listwise"


def test_a_name_cannot_be_defined_twice():
    before = dict(PROPERTIES)
    with pytest.raises(ValueError, match="'monotone' is already defined"):
        register_property("monotone", "a second statement")(lambda loss, budget: None)
    assert dict(PROPERTIES) == before


def test_a_claimed_property_runs_on_the_losses_that_claim_it_only(scratch_properties, claiming_loss):
    @register_property("fake_claim", "claimed by claims_it", skip=unless_claimed("fake_claim"))
    def fake_claim(loss, budget):
        raise Violation(f"checked {loss.name}")

    (claimed,) = check_loss(claiming_loss, properties=["fake_claim"])
    assert claimed.failed and claimed.counterexample == "checked claims_it"
    (other,) = check_loss("dpo", properties=["fake_claim"])
    assert other.skipped_reason == "the loss does not claim fake_claim"


def test_a_plugin_property_is_listed_and_run_under_its_distribution(install, claiming_loss, capsys):
    install("fakeprops", {"fakeprops": CLAIMED_PROPERTY.format(name="fake_claim")})
    assert main(["verify", claiming_loss, "--max-examples", "3"]) == 0
    out = capsys.readouterr().out
    builtin, plugin = out.split("properties from fakeprops 1.0:\n")
    assert builtin.index("properties from prefopt ") < builtin.index("PASS  finite_float32")
    assert plugin.startswith("PASS  fake_claim ")
    assert main(["verify", "dpo", "--max-examples", "3"]) == 0
    assert "SKIP  fake_claim" in capsys.readouterr().out
    assert main(["verify", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "properties from fakeprops 1.0:\n  fake_claim " in listing and "problems" not in listing


def test_a_property_plugin_that_fails_to_load_is_a_problem_and_hides_nothing(install, claiming_loss, capsys):
    install("fakeprops", {"fakeprops": CLAIMED_PROPERTY.format(name="fake_claim")})
    install("fakebroken", {"fakebroken": "raise ImportError('needs a package that is not installed')\n"})
    install("fakeexit", {"fakeexit": "import sys\nsys.exit('no accelerator found')\n"})
    install("fakeempty", {"fakeempty": "VALUE = 1\n"})
    install("fakeclash", {"fakeclash": CLAIMED_PROPERTY.format(name="monotone")})
    problems = {p.name: str(p.error) for p in property_problems()}
    assert set(problems) == {"fakebroken", "fakeexit", "fakeempty", "fakeclash"}
    assert "property module 'fakebroken' from distribution fakebroken 1.0 failed to load" in problems["fakebroken"]
    assert "needs a package that is not installed" in problems["fakebroken"]
    assert "SystemExit: no accelerator found" in problems["fakeexit"]
    assert "fakeempty 1.0 is unusable" in problems["fakeempty"] and "defines no property" in problems["fakeempty"]
    assert "fakeclash 1.0" in problems["fakeclash"] and "'monotone' is already defined" in problems["fakeclash"]

    assert main(["verify", claiming_loss, "--max-examples", "3"]) == 1  # the check is incomplete
    out = capsys.readouterr().out
    assert "PASS  monotone" in out and "PASS  fake_claim" in out and "0 failed" in out
    listed = out.split("problems (4), whose properties were not run:")[1]
    assert "fakebroken: property module 'fakebroken' from distribution fakebroken 1.0" in listed
    assert [item.property.name for item in list_properties()][: len(BUILTIN_ORDER)] == BUILTIN_ORDER


def test_an_install_whose_metadata_lacks_the_builtin_properties_is_a_problem(tmp_path, monkeypatch, capsys):
    groups = {group: entries for group, entries in checkout_entry_points().items() if group != GROUP}
    write_distribution(tmp_path, "prefopt", "0.1.0", groups)  # an install made before the group existed
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.refresh()
    try:
        assert not any(item.provider.distribution == BUILTIN_DISTRIBUTION for item in list_properties())
        assert main(["verify", "dpo", "--max-examples", "3"]) == 1
        assert "declares no entry point of 'prefopt.properties'" in capsys.readouterr().out
    finally:
        monkeypatch.undo()
        registry.refresh()
