"""The built-ins declare what the newer properties check (docs/theory.md §8.9-§8.12), and pass them."""

from __future__ import annotations

import math

import pytest

from prefopt import get_loss
from prefopt.verify import check_loss
from prefopt.verify.properties.ties import breslow_nll

TARGET_MARGINS = [
    # (loss, options, the paper's minimiser of the per-pair loss in m = h_w - h_l)
    ("ipo", {"tau": 0.25}, 1.0 / (2 * 0.25)),  # Azar et al. 2023, eq. 17
    ("ipo", {"tau": 0.05, "log_ratio": "sum"}, 1.0 / (2 * 0.05)),
    ("dpo", {"beta": 0.5, "label_smoothing": 0.2}, math.log(0.8 / 0.2) / 0.5),  # cDPO: beta m* = log((1-eps)/eps)
    ("exo_pair", {"beta": 0.2, "label_smoothing": 0.1}, math.log(0.9 / 0.1) / 0.2),  # sigma(beta m*) = 1 - eps
    ("hinge", {"beta": 0.5}, 1.0 / 0.5),  # max(0, 1 - beta m) reaches 0 at beta m = 1
]


@pytest.mark.parametrize(("name", "options", "expected"), TARGET_MARGINS)
def test_declared_target_margins_are_the_papers_and_hold(name, options, expected):
    assert get_loss(name, **options).declarations.target_margin == pytest.approx(expected, rel=1e-12)
    (result,) = check_loss(name, options=options, max_examples=15, properties=["target_margin"])
    assert result.passed, result.counterexample


@pytest.mark.parametrize(
    ("name", "options"),
    [("dpo", {}), ("dpo", {"label_smoothing": 0.1, "divergence": "js"}), ("robust", {}), ("sppo_hard", {})],
)
def test_losses_without_a_finite_minimiser_in_the_margin_declare_none(name, options):
    (result,) = check_loss(name, options=options, properties=["target_margin"])
    assert result.skipped_reason == "the loss declares no target_margin"


@pytest.mark.parametrize(
    ("name", "options", "properties"),
    [
        ("ipo", {}, ["length_normalization"]),
        ("dpo", {"length_normalize": True, "label_smoothing": 0.1}, ["length_normalization", "target_margin"]),
        ("plackett_luce", {"length_normalize": True}, ["length_normalization", "tie_symmetry"]),
        ("plackett_luce", {"reference_free": True}, ["reference_ignored", "tie_symmetry", "breslow_ties"]),
        ("plackett_luce", {}, ["k2_equals_dpo", "tie_symmetry", "breslow_ties"]),
        ("sft", {"length_normalize": True}, ["reference_ignored", "tie_symmetry"]),
        ("dpo", {"reference_free": True}, ["reference_ignored"]),
        ("hinge", {"reference_free": True}, ["reference_ignored", "target_margin"]),
        ("unlikelihood", {}, ["reference_ignored"]),
    ],
)
def test_builtins_pass_the_properties_their_options_call_for(name, options, properties):
    results = check_loss(name, options=options, max_examples=15, properties=properties)
    assert [(r.name, r.status) for r in results] == [(p, "PASS") for p in properties], [
        r.counterexample or r.skipped_reason for r in results
    ]


def test_a_listwise_loss_that_refuses_ties_skips_the_tie_properties():
    results = check_loss("plackett_luce", options={"ties": "error"}, properties=["tie_symmetry", "breslow_ties"])
    assert [r.skipped_reason for r in results] == ["the loss refuses tied rankings (accepts_ties False)"] * 2


def test_the_breslow_formula_of_the_kit():
    # all K responses tied at equal scores: each of the K terms is -log K (docs/theory.md §8.12)
    assert breslow_nll([0.3] * 4, (0, 0, 0, 0)) == pytest.approx(4 * math.log(4))
    # a strict ranking is plain Plackett-Luce: -sum_k (s_k - log sum_{j >= k} exp s_j)
    s = [1.0, -0.5, 2.0]
    strict = -((s[0] - math.log(sum(map(math.exp, s)))) + (s[1] - math.log(math.exp(s[1]) + math.exp(s[2]))))
    assert breslow_nll(s, (0, 1, 2)) == pytest.approx(strict)
    # one response above a tied pair: the pair shares the risk set {itself}, twice
    tied = -((1.0 - math.log(math.e + 2.0)) + (0.0 + 0.0 - 2 * math.log(2.0)))
    assert breslow_nll([1.0, 0.0, 0.0], (0, 1, 1)) == pytest.approx(tied)
