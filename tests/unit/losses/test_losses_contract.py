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
