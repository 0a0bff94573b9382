"""The property registry: one decorator adds a property, in definition order, and check_loss runs it."""

from __future__ import annotations

import pytest

from prefopt.verify import PROPERTIES, Property, Violation, check_loss
from prefopt.verify.property import register_property, unless_declared


@pytest.fixture
def scratch_property():
    """Remove the property a test registers, so the registry is left as it was."""
    names = set(PROPERTIES)
    yield
    for name in set(PROPERTIES) - names:
        del PROPERTIES[name]


def test_properties_run_in_the_order_of_theory_section_8():
    assert list(PROPERTIES) == [
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
    assert all(isinstance(p, Property) and p.name == name for name, p in PROPERTIES.items())


def test_a_registered_property_is_checked_last_with_its_statement(scratch_property):
    seen = []

    @register_property("always_fails", "a property that no loss satisfies")
    def always_fails(loss, budget):
        seen.append((loss.name, budget.max_examples))
        raise Violation("observed a failure")

    assert list(PROPERTIES)[-1] == "always_fails"
    assert PROPERTIES["always_fails"].statement == "a property that no loss satisfies"
    assert PROPERTIES["always_fails"].check is always_fails
    results = check_loss("dpo", max_examples=3, properties=["monotone", "always_fails"])
    assert [(r.name, r.status) for r in results] == [("monotone", "PASS"), ("always_fails", "FAIL")]
    assert results[1].counterexample == "observed a failure"
    assert seen == [("dpo", 3)]


def test_a_skip_rule_is_applied_before_the_check(scratch_property):
    @register_property("needs_listwise", "only for listwise losses", skip=unless_declared("listwise"))
    def needs_listwise(loss, budget):
        raise AssertionError("the check of a skipped property must not run")

    (result,) = check_loss("dpo", properties=["needs_listwise"])
    assert result.skipped_reason == "the loss does not declare listwise"


def test_a_name_cannot_be_registered_twice():
    before = dict(PROPERTIES)
    with pytest.raises(ValueError, match="'monotone' is already registered"):
        register_property("monotone", "a second statement")(lambda loss, budget: None)
    assert PROPERTIES == before
