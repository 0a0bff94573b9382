"""The loss API around the built-ins: pair decomposition, option errors, required inputs, weighted sums."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prefopt import Scores, build_loss, get_loss
from prefopt.losses import LossOptionsError, ScoresError, WeightedLoss
from prefopt.rankings import ranking_pairs


def enumerate_pairs(ranks: list[int], valid: list[bool], scheme: str) -> set[tuple[int, int]]:
    """The preference pairs of one prompt, by direct enumeration over its valid slots."""
    slots = [i for i, v in enumerate(valid) if v]
    levels = sorted({ranks[i] for i in slots})
    best = levels[0] if levels else None
    worst = levels[-1] if levels else None
    found = set()
    for i in slots:
        for j in slots:
            if ranks[i] >= ranks[j]:
                continue
            if scheme in ("best_vs_rest", "best_vs_worst") and ranks[i] != best:
                continue
            if scheme == "best_vs_worst" and ranks[j] != worst:
                continue
            if scheme == "adjacent" and levels.index(ranks[j]) != levels.index(ranks[i]) + 1:
                continue
            found.add((i, j))
    return found


def pair_sets(ranks: torch.Tensor, valid: torch.Tensor, scheme: str) -> list[set[tuple[int, int]]]:
    index, pair_valid = ranking_pairs(ranks, valid, scheme)
    return [{tuple(index[p].tolist()) for p in row.nonzero().flatten().tolist()} for row in pair_valid]


def test_pair_schemes_on_a_hand_built_ranking():
    # slots:      0  1  2  3  4 ; slot 4 is padding, slots 1 and 2 tie
    ranks = torch.tensor([[0, 1, 1, 3, 0]])
    valid = torch.tensor([[True, True, True, True, False]])
    assert pair_sets(ranks, valid, "all") == [{(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)}]
    assert pair_sets(ranks, valid, "adjacent") == [{(0, 1), (0, 2), (1, 3), (2, 3)}]
    assert pair_sets(ranks, valid, "best_vs_rest") == [{(0, 1), (0, 2), (0, 3)}]
    assert pair_sets(ranks, valid, "best_vs_worst") == [{(0, 3)}]
    # two responses tie for the worst rank: the best meets each of them
    assert pair_sets(torch.tensor([[2, 0, 2]]), torch.tensor([[True, True, True]]), "best_vs_worst") == [{(1, 0), (1, 2)}]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=4, max_size=4), min_size=1, max_size=3
    ),
    scheme=st.sampled_from(["all", "adjacent", "best_vs_rest", "best_vs_worst"]),
)
def test_ranking_pairs_match_enumeration(rows, scheme):
    ranks = torch.tensor([[r for r, _ in row] for row in rows])
    valid = torch.tensor([[v for _, v in row] for row in rows])
    expected = [enumerate_pairs([r for r, _ in row], [v for _, v in row], scheme) for row in rows]
    assert pair_sets(ranks, valid, scheme) == expected


def test_pairwise_loss_on_k_way_data_averages_its_pairs():
    policy = torch.tensor([[-3.0, -5.0, -4.0, -9.0]], dtype=torch.float64)
    reference = torch.tensor([[-2.0, -6.0, -4.5, -1.0]], dtype=torch.float64)
    ranks, valid = torch.tensor([[0, 1, 1, 2]]), torch.tensor([[True, True, True, False]])
    r = (0.1 * (policy - reference))[0].tolist()
    for scheme, pairs in (("all", [(0, 1), (0, 2)]), ("best_vs_rest", [(0, 1), (0, 2)])):
        out = get_loss("dpo", pairs=scheme)(Scores(policy=policy, reference=reference, ranks=ranks, valid=valid))
        expected = sum(math.log1p(math.exp(r[j] - r[i])) for i, j in pairs) / len(pairs)
        assert float(out.loss) == pytest.approx(expected, rel=1e-12)


def test_option_errors_name_the_option_and_the_loss():
    with pytest.raises(LossOptionsError, match=r"'ipo'.*log_ratio"):
        get_loss("ipo", log_ratio="mean")
    with pytest.raises(LossOptionsError, match=r"'plackett_luce'.*ties"):
        get_loss("plackett_luce", ties="efron")
    with pytest.raises(LossOptionsError, match=r"'robust'.*label_smoothing"):
        get_loss("robust", label_smoothing=0.5)
    with pytest.raises(LossOptionsError, match=r"'hinge'.*gamma"):
        get_loss("hinge", gamma=1.0)
    with pytest.raises(LossOptionsError, match=r"'sft'.*listwise"):
        get_loss("sft", pairs="adjacent")


@pytest.mark.parametrize(
    ("name", "scores", "missing"),
    [
        ("dpo", Scores(policy=torch.zeros(2, 2)), "reference"),
        ("ipo", Scores(policy=torch.zeros(2, 2), reference=torch.zeros(2, 2)), "lengths"),
        ("unlikelihood", Scores(policy=torch.zeros(2, 2)), "token"),
    ],
)
def test_missing_inputs_raise_scores_error(name, scores, missing):
    with pytest.raises(ScoresError, match=missing):
        get_loss(name)(scores)


def test_lengths_are_none_unless_given_and_length_normalised_log_ratios_need_them():
    policy, reference = torch.tensor([[-4.0, -6.0]]), torch.tensor([[-1.0, -1.0]])
    unknown = Scores(policy=policy, reference=reference)
    assert unknown.lengths is None
    with pytest.raises(ValueError, match="lengths"):
        unknown.log_ratio(length_normalize=True)
    known = Scores(policy=policy, reference=reference, lengths=torch.tensor([[2.0, 3.0]]))
    expected = [-4.0 / 2 + 1.0 / 2, -6.0 / 3 + 1.0 / 3]
    assert known.log_ratio(length_normalize=True)[0].tolist() == pytest.approx(expected, rel=1e-6)
    assert known.log_ratio(reference_free=True, length_normalize=True)[0].tolist() == pytest.approx([-2.0, -2.0])


def test_reference_free_options_drop_the_reference_need():
    scores = Scores(policy=torch.tensor([[-1.0, -2.0, -4.0]]))
    assert torch.isfinite(get_loss("plackett_luce", reference_free=True)(scores).loss)
    assert torch.isfinite(get_loss("hinge", reference_free=True)(scores).loss)
    assert torch.isfinite(get_loss("sft")(scores).loss)


def test_dpo_plus_weighted_sft_is_the_weighted_sum_of_separate_calls():
    scores = Scores(
        policy=torch.tensor([[-3.0, -5.0, -4.0], [-1.0, -2.0, -8.0]], dtype=torch.float64),
        reference=torch.tensor([[-2.0, -6.0, -4.5], [-1.5, -2.0, -3.0]], dtype=torch.float64),
        valid=torch.tensor([[True, True, True], [True, True, False]]),
    )
    combined = build_loss([{"name": "dpo", "beta": 0.2}, {"name": "sft", "weight": 0.5}])
    assert isinstance(combined, WeightedLoss)
    assert combined.declarations.needs_reference and not combined.declarations.listwise
    out = combined(scores)
    dpo, sft = get_loss("dpo", beta=0.2)(scores), get_loss("sft")(scores)
    assert float(out.loss) == pytest.approx(float(dpo.loss) + 0.5 * float(sft.loss), rel=1e-12)
    assert out.metrics["loss/sft"] == pytest.approx(float(sft.loss))
    assert torch.equal(out.rewards, dpo.rewards)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("dpo", {"label_smoothing": 0.1}, {"monotone": False, "bradley_terry": False, "reward_difference": True}),
        ("dpo", {"length_normalize": True}, {"reward_difference": False, "length_normalized": True}),
        ("plackett_luce", {}, {"listwise": True, "bradley_terry": True, "monotone": False}),
        ("plackett_luce", {"ties": "error"}, {"monotone": True}),
        ("ipo", {"log_ratio": "sum"}, {"reward_difference": True, "length_normalized": False, "monotone": False}),
        ("robust", {"label_smoothing": 0.0}, {"bradley_terry": True, "monotone": True}),
        ("aot", {}, {"reward_difference": True, "monotone": True, "per_prompt": False}),
        (
            "aot_unpaired",
            {"label_smoothing": 0.1},
            {"reward_difference": False, "monotone": False, "per_prompt": False},
        ),
        ("bco_pair", {}, {"reward_difference": False, "monotone": False, "per_prompt": False}),
        ("discopop", {}, {"reward_difference": True, "monotone": False, "per_prompt": True}),
        ("unlikelihood", {}, {"needs_reference": False, "needs_token_logps": True, "reward_difference": False}),
    ],
)
def test_declarations_follow_the_options(name, options, expected):
    declarations = get_loss(name, **options).declarations
    assert {key: getattr(declarations, key) for key in expected} == expected


def test_prompts_without_a_preference_do_not_enter_the_mean():
    policy = torch.tensor([[-1.0, -2.0, -4.0], [-3.0, -1.0, -2.0]], dtype=torch.float64)
    reference = torch.zeros_like(policy)
    ranks = torch.tensor([[0, 1, 2], [0, 0, 0]])  # the second prompt ties everything: no preference
    for name in ("plackett_luce", "dpo"):
        loss = get_loss(name)
        both = loss(Scores(policy=policy, reference=reference, ranks=ranks)).loss
        first = loss(Scores(policy=policy[:1], reference=reference[:1], ranks=ranks[:1])).loss
        assert torch.equal(both, first), name
