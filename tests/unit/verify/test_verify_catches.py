"""Deliberately wrong losses, registered in-process, are caught by the property that their bug breaks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field

from prefopt import Declarations, LossOptions, LossOutput, define_loss
from prefopt.losses import get_loss, registry
from prefopt.losses.functional import plackett_luce_nll
from prefopt.losses.unlikelihood import UnlikelihoodOptions
from prefopt.losses.unlikelihood import unlikelihood as builtin_unlikelihood
from prefopt.verify import PROPERTIES, check_loss, list_properties


class BetaOptions(LossOptions):
    beta: float = Field(0.1, gt=0)


def margin(scores, options) -> torch.Tensor:
    """(N,) beta * (h_w - h_l) for pairs."""
    h = scores.log_ratio()
    return options.beta * (h[:, 0] - h[:, 1])


def bt(name: str, **declared):
    """A decorator defining a pairwise loss named ``name`` with Bradley-Terry-like declarations."""
    return define_loss(name, options=BetaOptions, declarations=Declarations(**declared))


@bt("ignores_reference", needs_reference=True, reward_difference=True)
def ignores_reference(scores, options):
    """Reads only the policy although it declares needs_reference."""
    value = -F.logsigmoid(options.beta * (scores.policy[:, 0] - scores.policy[:, 1]))
    return LossOutput(loss=value, rewards=scores.policy.detach())


@bt("not_a_difference", needs_reference=True, reward_difference=True)
def not_a_difference(scores, options):
    """-log sigma(beta h_w): depends on the chosen log-ratio itself, not on a difference."""
    h = scores.log_ratio()
    return LossOutput(loss=-F.logsigmoid(options.beta * h[:, 0]), rewards=h.detach())


@bt("detached_rejected", bradley_terry=True)
def detached_rejected(scores, options):
    """The DPO value with the rejected response's gradient stopped: the value is right, the gradient is not."""
    h = scores.log_ratio()
    value = -F.logsigmoid(options.beta * (h[:, 0] - h[:, 1].detach()))
    return LossOutput(loss=value, rewards=h.detach())


@bt("double_beta", bradley_terry=True)
def double_beta(scores, options):
    """-log sigma(2 beta (h_w - h_l)): a Bradley-Terry loss with the wrong temperature."""
    return LossOutput(loss=-F.logsigmoid(2 * margin(scores, options)), rewards=scores.log_ratio().detach())


@bt("squared_margin", monotone=True)
def squared_margin(scores, options):
    """(beta d - 1)^2 claims monotone, but past the target margin raising y_w raises the loss."""
    return LossOutput(loss=(margin(scores, options) - 1.0) ** 2, rewards=scores.log_ratio().detach())


@bt("naive_softplus")
def naive_softplus(scores, options):
    """log(1 + exp(-beta d)) without the stable softplus: exp overflows once beta d < -89."""
    return LossOutput(loss=torch.log(1 + torch.exp(-margin(scores, options))), rewards=scores.log_ratio().detach())


@bt("batch_centered")
def batch_centered(scores, options):
    """Subtracts the batch's mean margin, so a prompt's loss depends on the other prompts (per_prompt claimed)."""
    m = margin(scores, options)
    return LossOutput(loss=-F.logsigmoid(m - m.mean()), rewards=scores.log_ratio().detach())


@define_loss("reads_padding", options=BetaOptions, declarations=Declarations(listwise=True))
def reads_padding(scores, options):
    """A Plackett-Luce loss that forgets ``valid``: padding slots enter the normalisers."""
    s = options.beta * scores.log_ratio()
    tail = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
    return LossOutput(loss=-(s - tail).sum(dim=-1), rewards=s.detach())


@define_loss("all_pairs_listwise", options=BetaOptions, declarations=Declarations(listwise=True, bradley_terry=True))
def all_pairs_listwise(scores, options):
    """Mean DPO loss over all ordered pairs of a ranking: Bradley-Terry at K = 2, but not Plackett-Luce."""
    s = options.beta * scores.log_ratio()  # (B, K)
    diff = s.unsqueeze(2) - s.unsqueeze(1)  # [b, i, j] = s_i - s_j
    upper = torch.ones_like(diff[0], dtype=torch.bool).triu(1) & scores.valid.unsqueeze(2) & scores.valid.unsqueeze(1)
    value = (-F.logsigmoid(diff) * upper).sum(dim=(1, 2)) / upper.sum(dim=(1, 2))
    return LossOutput(loss=value, rewards=s.detach())


class TauOptions(LossOptions):
    tau: float = Field(0.1, gt=0)


@bt("policy_only_normalised", length_normalized=True, reward_difference=False)
def policy_only_normalised(scores, options):
    """DPO on h = log pi / |y| - log pi_ref: the policy is length-normalised, the reference is not."""
    h = scores.policy / scores.lengths - scores.reference
    return LossOutput(loss=-F.logsigmoid(options.beta * (h[:, 0] - h[:, 1])), rewards=h.detach())


@define_loss(
    "half_tau_ipo",
    options=TauOptions,
    declarations=lambda options: Declarations(monotone=False, target_margin=1.0 / (2.0 * options.tau)),
)
def half_tau_ipo(scores, options):
    """IPO with its target written tau / 2, while it declares the paper's 1 / (2 tau)."""
    h = scores.log_ratio()
    return LossOutput(loss=(h[:, 0] - h[:, 1] - options.tau / 2.0) ** 2, rewards=h.detach())


@bt("reads_reference_when_given", needs_reference=False)
def reads_reference_when_given(scores, options):
    """Declares needs_reference=False but calls scores.log_ratio(), which subtracts a reference when one is given."""
    return LossOutput(loss=-F.logsigmoid(margin(scores, options)), rewards=scores.log_ratio().detach())


@define_loss(
    "ties_dropped",
    options=BetaOptions,
    declarations=Declarations(listwise=True, bradley_terry=True, monotone=False),
)
def ties_dropped(scores, options):
    """Plackett-Luce whose risk sets hold only strictly worse responses: tied responses leave each other's sets."""
    s = options.beta * scores.log_ratio()  # (B, K)
    worse = scores.valid.unsqueeze(1) & (scores.ranks.unsqueeze(1) > scores.ranks.unsqueeze(2))  # [b, i, j]
    others = s.unsqueeze(1).masked_fill(~worse, -torch.inf).logsumexp(dim=2)
    terms = F.logsigmoid(s - others).masked_fill(~scores.valid, 0.0)
    return LossOutput(loss=-terms.sum(dim=1), rewards=s.detach())


@define_loss(
    "first_column_sft",
    declarations=Declarations(needs_reference=False, listwise=True, reward_difference=False),
)
def first_column_sft(scores, options):
    """-log pi of column 0 only: of several tied best responses it trains on whichever comes first."""
    return LossOutput(loss=-scores.policy[:, 0], rewards=scores.policy.detach())


@bt("policy_rewards_dpo", bradley_terry=True, bounded_below=0.0)
def policy_rewards_dpo(scores, options):
    """DPO whose rewards are the policy log-probs, not beta * (policy - reference): the reward accuracy is wrong."""
    return LossOutput(loss=-F.logsigmoid(margin(scores, options)), rewards=scores.policy.detach())


@bt("gradient_centred_dpo")
def gradient_centred_dpo(scores, options):
    """DPO on margins centred by the batch mean with the mean's value added back: each value is DPO's, but the
    gradient of each pair's loss flows to every other pair of the batch (per_prompt claimed)."""
    m = margin(scores, options)
    centred = m - m.mean() + m.mean().detach()
    return LossOutput(loss=-F.logsigmoid(centred), rewards=(options.beta * scores.log_ratio()).detach())


@define_loss(
    "plus_log_unlikelihood",
    options=UnlikelihoodOptions,
    declarations=builtin_unlikelihood.declarations(UnlikelihoodOptions()),
)
def plus_log_unlikelihood(scores, options):
    """Unlikelihood with + alpha * log p(l_t) in place of - alpha * log(1 - p(l_t)): unbounded below as p(l) -> 0."""
    log_p = scores.token_policy.masked_fill(~scores.token_mask, 0.0).sum(dim=2)  # (N, 2)
    return LossOutput(loss=-log_p[:, 0] + options.alpha * log_p[:, 1], rewards=log_p.detach())


@bt("clamped_dpo", bradley_terry=True, bounded_below=0.0)
def clamped_dpo(scores, options):
    """DPO with its margin clamped at +-20: right at beta = 0.1, where |margin| <= 20 on log-probs >= -100."""
    return LossOutput(
        loss=-F.logsigmoid(margin(scores, options).clamp(-20.0, 20.0)),
        rewards=(options.beta * scores.log_ratio()).detach(),
    )


@bt("shifts_policy_in_place", bradley_terry=True)
def shifts_policy_in_place(scores, options):
    """DPO that subtracts 1 from the policy log-probs it is given (the value is unchanged, the caller's are not)."""
    scores.policy -= 1.0
    return LossOutput(loss=-F.logsigmoid(margin(scores, options)), rewards=scores.log_ratio().detach())


@define_loss("zeroes_reference_in_place", options=BetaOptions, declarations=Declarations(listwise=True))
def zeroes_reference_in_place(scores, options):
    """Plackett-Luce that overwrites the reference log-probs with 0 through ``mul_``."""
    s = options.beta * (scores.policy - scores.reference.mul_(0.0))
    return LossOutput(loss=plackett_luce_nll(s, scores.ranks, scores.valid), rewards=s.detach())


WRONG = {
    "ignores_reference": ("reference_used", ["shift_policy", "shift_reference"]),
    "not_a_difference": ("shift_reference", ["reference_used"]),
    "detached_rejected": ("bradley_terry_gradient", ["bradley_terry_value"]),
    "double_beta": ("bradley_terry_value", ["shift_policy", "monotone"]),
    "squared_margin": ("monotone", ["shift_policy"]),
    "naive_softplus": ("finite_bfloat16", ["reference_used", "inputs_unchanged"]),  # float64 overflows at beta=10 too
    "batch_centered": ("batch_mean", ["batch_order"]),
    "reads_padding": ("k_padding", ["batch_order"]),
    "all_pairs_listwise": ("uniform_policy", ["bradley_terry_value", "k2_equals_dpo"]),
}
# the planted losses of the properties of docs/theory.md §8.9-§8.12, each caught by one property and by no other
CAUGHT_BY_ONE = {
    "policy_only_normalised": "length_normalization",
    "half_tau_ipo": "target_margin",
    "reads_reference_when_given": "reference_ignored",
    "ties_dropped": "breslow_ties",
    "first_column_sft": "tie_symmetry",
}
# wrong losses that verify caught only once it checked rewards, per-prompt gradients, lower bounds, drawn options
# and inputs: the properties each one must fail
CAUGHT_BY = {
    "policy_rewards_dpo": {"rewards_order", "rewards_bradley_terry"},
    "gradient_centred_dpo": {"batch_mean"},
    "plus_log_unlikelihood": {"bounded_below"},
    "clamped_dpo": {"bradley_terry_value", "bradley_terry_gradient"},
    "shifts_policy_in_place": {"inputs_unchanged"},
    "zeroes_reference_in_place": {"inputs_unchanged"},
}
DEFINITIONS = {
    d.name: d
    for d in [
        ignores_reference,
        not_a_difference,
        detached_rejected,
        double_beta,
        squared_margin,
        naive_softplus,
        batch_centered,
        reads_padding,
        all_pairs_listwise,
        policy_only_normalised,
        half_tau_ipo,
        reads_reference_when_given,
        ties_dropped,
        first_column_sft,
        policy_rewards_dpo,
        gradient_centred_dpo,
        plus_log_unlikelihood,
        clamped_dpo,
        shifts_policy_in_place,
        zeroes_reference_in_place,
    ]
}


@pytest.fixture
def registered():
    """Register every wrong loss for one test and remove them afterwards."""
    for definition in DEFINITIONS.values():
        registry.register(definition.name, definition, replace=True)
    yield
    for name in DEFINITIONS:
        registry.unregister(name)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_the_broken_property_fails_and_the_intact_ones_pass(registered, name):
    broken, intact = WRONG[name]
    results = {r.name: r for r in check_loss(name, max_examples=25, properties=[broken, *intact])}
    assert results[broken].failed, f"{name} should fail {broken}"
    assert "smallest counterexample" in results[broken].counterexample or broken == "reference_used"
    if broken == "finite_bfloat16":
        assert "loss is inf in torch.bfloat16" in results[broken].counterexample
    for other in intact:
        assert results[other].passed, f"{name}: {other} should hold: {results[other].counterexample}"


@pytest.mark.parametrize("name", sorted(CAUGHT_BY_ONE))
def test_the_property_of_the_bug_fails_and_every_other_one_passes_or_skips(registered, name):
    results = check_loss(name, max_examples=15)
    failed = [r for r in results if r.failed]
    assert [r.name for r in failed] == [CAUGHT_BY_ONE[name]]
    assert "smallest counterexample" in failed[0].counterexample
    passed = {r.name for r in results if r.passed}
    assert passed >= {"finite_float32", "batch_mean", "k_padding"}, f"{name}: only {passed} were checked"


@pytest.mark.parametrize("name", sorted(CAUGHT_BY))
def test_verify_fails_the_wrong_loss(registered, name):
    results = check_loss(name, max_examples=25)
    failed = {r.name for r in results if r.failed}
    assert failed >= CAUGHT_BY[name], f"{name} failed only {failed}"


@pytest.mark.parametrize("field", ["policy", "reference"])
def test_an_in_place_write_is_reported_by_field(registered, field):
    name = "shifts_policy_in_place" if field == "policy" else "zeroes_reference_in_place"
    (result,) = check_loss(name, max_examples=5, properties=["inputs_unchanged"])
    assert f"the loss changed Scores.{field}:" in result.counterexample


def test_an_option_given_explicitly_is_not_searched(registered):
    """clamped_dpo is right at beta = 0.1 (the default); pinning it, on the command line too, keeps it there."""
    checked = ["bradley_terry_value", "bradley_terry_gradient"]
    for loss in ("clamped_dpo", get_loss("clamped_dpo", beta=0.1)):
        options = {"beta": 0.1} if isinstance(loss, str) else None
        results = check_loss(loss, options=options, max_examples=25, properties=checked)
        assert all(r.passed for r in results), [r.counterexample for r in results]


def test_a_counterexample_names_the_drawn_options(registered):
    (result,) = check_loss("clamped_dpo", max_examples=25, properties=["bradley_terry_value"])
    assert "smallest counterexample: ({'beta': " in result.counterexample


def test_properties_that_do_not_apply_are_skipped_with_the_reason(registered):
    results = {r.name: r for r in check_loss("ignores_reference", max_examples=5)}
    assert results["monotone"].passed  # declared by default, and -log sigma of a policy margin is monotone
    assert results["bradley_terry_gradient"].skipped
    assert "bradley_terry" in results["bradley_terry_gradient"].skipped_reason
    assert results["k2_equals_dpo"].skipped_reason == "the loss is pairwise"
    assert list(results) == list(PROPERTIES)


def test_a_correct_loss_passes_everything():
    results = check_loss("dpo", max_examples=20)
    assert [r.name for r in results if r.failed] == []
    plugins = {item.property.name for item in list_properties() if item.provider.distribution != "prefopt"}
    assert {r.name for r in results if r.skipped} - plugins == {
        "reference_ignored",  # dpo reads the reference
        "length_normalization",
        "target_margin",  # without label smoothing the loss falls for ever
        "k2_equals_dpo",  # pairwise
        "tie_symmetry",
        "breslow_ties",
    }


def test_options_are_validated_and_reach_the_loss():
    # cDPO (label smoothing) is no longer monotone nor Bradley-Terry, so those checks are skipped
    results = {r.name: r for r in check_loss("dpo", options={"label_smoothing": 0.2}, max_examples=5)}
    assert results["monotone"].skipped and results["bradley_terry_value"].skipped
    with pytest.raises(Exception, match="label_smoothing"):
        check_loss("dpo", options={"label_smoothing": 0.7})
