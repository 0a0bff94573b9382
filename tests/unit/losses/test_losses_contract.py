"""The bound loss holds every loss function to its output contract: shapes, type and finite values."""

import pytest
import torch

from prefopt import Scores
from prefopt.losses import Declarations, Loss, LossContractError, LossOptions, NonFiniteLossError, define_loss
from prefopt.registry import Provider
from prefopt.types import BatchLoss, LossOutput

PLUGIN = Provider("my-plugin", "0.1")


def _scores(batch=8, slots=2):
    policy = -torch.arange(1.0, 1.0 + batch * slots).reshape(batch, slots)
    return Scores(policy=policy, reference=policy - 0.5)


def _bound(function, listwise=False):
    definition = define_loss("bad", declarations=Declarations(listwise=listwise))(function)
    return Loss(definition, LossOptions(), provider=PLUGIN)


def _margin(scores):
    return scores.log_ratio()[:, 0] - scores.log_ratio()[:, 1]


@pytest.mark.parametrize(
    ("listwise", "function", "message"),
    [
        (
            True,
            lambda s, o: LossOutput(loss=_margin(s).mean(), rewards=s.log_ratio()),
            "loss 'bad' from my-plugin 0.1 returned loss of shape () but prefopt needs one value per example, "
            "shape (8,)",
        ),
        (
            False,
            lambda s, o: LossOutput(loss=s.log_ratio(), rewards=s.log_ratio()),
            "returned loss of shape (8, 2) but prefopt needs one value per preference pair, shape (8,)",
        ),
        (
            False,
            lambda s, o: LossOutput(loss=_margin(s), rewards=_margin(s)),
            "returned rewards of shape (8,) but prefopt needs one reward per response of each preference pair, "
            "shape (8, 2)",
        ),
        (False, lambda s, o: _margin(s), "returned Tensor, but prefopt needs a LossOutput"),
        (
            True,
            lambda s, o: BatchLoss(loss=_margin(s).mean(), rewards=s.log_ratio()),
            "returned BatchLoss, but prefopt needs a LossOutput",
        ),
        (True, lambda s, o: LossOutput(loss=0.5, rewards=s.log_ratio()), "of types float and Tensor"),
    ],
    ids=["scalar-listwise", "pairs-by-two", "rewards-shape", "bare-tensor", "reduced-output", "float-loss"],
)
def test_a_loss_breaking_the_shape_contract_is_named_with_its_provider(listwise, function, message):
    with pytest.raises(LossContractError) as raised:
        _bound(function, listwise)(_scores())
    assert message in str(raised.value)
    assert not isinstance(raised.value, NonFiniteLossError)


@pytest.mark.parametrize("listwise", [True, False])
def test_the_function_returns_per_row_losses_and_the_bound_loss_their_mean_as_a_batch_loss(listwise):
    scores = _scores()
    out = _bound(lambda s, o: LossOutput(loss=_margin(s), rewards=s.log_ratio()), listwise)(scores)
    assert isinstance(out, BatchLoss) and out.loss.shape == ()
    assert float(out.loss) == pytest.approx(sum(_margin(scores).tolist()) / scores.batch_size)
    assert out.rewards.shape == (8, 2)


def test_non_finite_losses_and_rewards_are_refused_where_they_count():
    def nan_for_second_prompt(scores, options):
        loss = _margin(scores).clone()
        loss[1] = float("nan")
        return LossOutput(loss=loss, rewards=scores.log_ratio())

    with pytest.raises(
        NonFiniteLossError, match=r"'bad' from my-plugin 0.1 returned a non-finite loss \(nan\) for 1 of 8"
    ):
        _bound(nan_for_second_prompt)(_scores())  # pairwise: one loss per pair, 8 pairs

    def inf_reward_in_padding(scores, options):
        rewards = scores.log_ratio().clone()
        rewards[:, 2] = float("inf")  # the third slot, padding unless made valid
        return LossOutput(loss=-_margin(scores), rewards=rewards)

    padded = _scores(batch=2, slots=3)
    padded.valid[:, 2] = False
    out = _bound(inf_reward_in_padding, listwise=True)(padded)  # padding slots are the loss's to fill
    assert torch.isfinite(out.loss)
    padded.valid[0, 2] = True
    with pytest.raises(NonFiniteLossError, match=r"non-finite reward \(inf\) for 1 of 5"):
        _bound(inf_reward_in_padding, listwise=True)(padded)


def test_verify_style_callers_may_observe_non_finite_values():
    def always_inf(scores, options):
        return LossOutput(loss=torch.full((scores.batch_size,), float("inf")), rewards=scores.log_ratio())

    loss = Loss(_bound(always_inf).definition, LossOptions(), require_finite=False)
    assert torch.isinf(loss(_scores()).loss)


def _dpo_output(scores):
    rewards = 0.1 * scores.log_ratio()
    return LossOutput(loss=-torch.nn.functional.logsigmoid(rewards[:, 0] - rewards[:, 1]), rewards=rewards.detach())


def _raises(scores, options):
    return 1 / 0


def _integer_loss(scores, options):
    out = _dpo_output(scores)
    return LossOutput(loss=(out.loss > 0).long(), rewards=out.rewards)


def _detached_loss(scores, options):
    out = _dpo_output(scores)
    return LossOutput(loss=out.loss.detach(), rewards=out.rewards)


def _string_metric(scores, options):
    return LossOutput(**vars(_dpo_output(scores)) | {"metrics": {"note": "fine"}})


def _tensor_metric(scores, options):
    return LossOutput(**vars(_dpo_output(scores)) | {"metrics": {"mean": scores.policy.mean()}})


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_raises, "raised ZeroDivisionError: division by zero"),
        (_integer_loss, "returned loss of dtype torch.int64, but prefopt needs floating-point values"),
        (_detached_loss, "returned a loss without a gradient (requires_grad=False)"),
        (_string_metric, "returned metric 'note' of type str, but prefopt needs a number"),
        (_tensor_metric, "returned metric 'mean' of type Tensor, but prefopt needs a number"),
    ],
    ids=["raises", "integer-loss", "no-gradient", "string-metric", "tensor-metric"],
)
def test_a_loss_breaking_the_call_contract_is_named_with_its_provider(function, message):
    scores = _scores()
    scores.policy.requires_grad_(True)
    with pytest.raises(LossContractError) as raised:
        _bound(function)(scores)
    assert str(raised.value).startswith("loss 'bad' from my-plugin 0.1 ") and message in str(raised.value)


def test_a_loss_without_a_gradient_is_accepted_where_none_is_wanted():
    scores = _scores()  # no gradient on the policy log-probs (evaluation), or gradients switched off
    assert torch.isfinite(_bound(_detached_loss)(scores).loss)
    scores.policy.requires_grad_(True)
    with torch.no_grad():
        assert torch.isfinite(_bound(_detached_loss)(scores).loss)


def _add_in_place(field):
    def mutate(scores, options):
        out = _dpo_output(scores)
        getattr(scores, field)[:, 0] += 1.0  # through a view of the tensor
        return out

    return mutate


def _replace(scores, options):
    scores.reference = scores.reference + 1.0
    return _dpo_output(scores)


@pytest.mark.parametrize("listwise", [True, False], ids=["listwise", "pairwise"])
@pytest.mark.parametrize(
    ("function", "field"),
    [(_add_in_place("policy"), "policy"), (_add_in_place("reference"), "reference"), (_replace, "reference")],
    ids=["policy-in-place", "reference-in-place", "reference-replaced"],
)
def test_a_loss_that_changes_its_input_scores_is_named_with_the_field(listwise, function, field):
    scores = _scores()
    policy, reference = scores.policy.clone(), scores.reference.clone()
    with pytest.raises(LossContractError, match=rf"^loss 'bad' from my-plugin 0.1 changed its input Scores.{field} "):
        _bound(function, listwise)(scores)
    if not listwise:  # the pairs a pairwise loss sees are copies: the caller's scores are untouched
        assert torch.equal(scores.policy, policy) and torch.equal(scores.reference, reference)


def test_every_builtin_loss_keeps_the_call_contract():
    from prefopt.losses import get_loss, list_losses

    for info in list_losses():
        if info.provider.distribution != "prefopt":
            continue
        scores = _scores(batch=4, slots=3)
        scores.policy.requires_grad_(True)
        lengths = torch.full_like(scores.policy, 3.0)
        tokens = scores.policy.unsqueeze(-1).expand(4, 3, 3) / 3
        full = Scores(
            policy=scores.policy,
            reference=scores.reference,
            lengths=lengths,
            token_policy=tokens,
            token_mask=torch.ones(4, 3, 3, dtype=torch.bool),
        )
        out = get_loss(info.name)(full)  # raises LossContractError on any breach
        assert out.loss.requires_grad, info.name
