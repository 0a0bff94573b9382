"""SimPO against an independent scalar formula, and its discovery through the installed entry point."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from prefopt_simpo import properties, simpo

import prefopt
from prefopt.cli import main
from prefopt.losses import Loss, registry
from prefopt.types import LossOutput
from prefopt.verify import check_loss, list_properties


def simpo_reference(chosen: float, rejected: float, len_w: int, len_l: int, beta: float, gamma: float, eps: float):
    """Meng et al. 2024, eq. 6, one pair at a time in plain floats (log sigma(z) = -log(1 + e^-z))."""
    z = beta * chosen / len_w - beta * rejected / len_l - gamma

    def log_sigmoid(v: float) -> float:
        return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))

    return -(1 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z)


log_prob = st.floats(min_value=-200.0, max_value=0.0)
length = st.integers(min_value=1, max_value=50)


@settings(max_examples=60, deadline=None, database=None)
@given(
    pairs=st.lists(st.tuples(log_prob, log_prob, length, length), min_size=1, max_size=5),
    beta=st.floats(0.1, 10.0),
    gamma=st.floats(0.0, 3.0),
    eps=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_matches_the_paper_formula(pairs, beta, gamma, eps):
    loss = prefopt.get_loss("simpo", beta=beta, gamma=gamma, label_smoothing=eps)
    scores = prefopt.Scores(
        policy=torch.tensor([[chosen, rejected] for chosen, rejected, _, _ in pairs], dtype=torch.float64),
        lengths=torch.tensor([[lw, ll] for _, _, lw, ll in pairs]),
    )
    expected = math.fsum(simpo_reference(*p, beta, gamma, eps) for p in pairs) / len(pairs)
    assert float(loss(scores).loss) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_defaults_follow_the_paper():
    options = prefopt.get_loss("simpo").options
    assert (options.beta, options.gamma, options.label_smoothing) == (2.0, 1.0, 0.0)
    assert options.gamma / options.beta == 0.5  # the reference code's gamma_beta_ratio


def test_equal_per_token_log_probs_cost_softplus_gamma():
    # both responses average -1.5 nats per token: the margin is -gamma, the loss log(1 + e^gamma)
    scores = prefopt.Scores(policy=torch.tensor([[-3.0, -15.0]]), lengths=torch.tensor([[2, 10]]))
    out = prefopt.get_loss("simpo", gamma=0.7)(scores)
    assert float(out.loss) == pytest.approx(math.log1p(math.exp(0.7)), rel=1e-6)
    assert out.rewards[0].tolist() == pytest.approx([-3.0, -3.0])  # beta * log pi / |y| with beta = 2


def test_reference_free_but_needs_lengths():
    loss = prefopt.get_loss("simpo")
    assert not loss.declarations.needs_reference and loss.declarations.length_normalized
    with pytest.raises(prefopt.losses.ScoresError, match="length"):
        loss(prefopt.Scores(policy=torch.tensor([[-1.0, -2.0]])))


def test_found_through_the_installed_entry_point():
    provider = registry.provider("simpo")
    assert provider.distribution == "prefopt-simpo"
    info = next(i for i in prefopt.list_losses() if i.name == "simpo")
    assert str(info.provider).startswith("prefopt-simpo ")
    assert info.kind == "pairwise" and not info.declarations.needs_reference


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}])
def test_passes_the_theory_kit(options):
    failures = [r for r in check_loss("simpo", options=options, max_examples=20) if r.failed]
    assert not failures, "\n".join(f"{r.name}: {r.counterexample}" for r in failures)


def test_its_property_is_found_through_the_installed_entry_point_and_run_by_verify(capsys):
    provided = {item.property.name: item.provider for item in list_properties()}
    assert provided["per_token_shift"].distribution == "prefopt-simpo"
    assert "per_token_shift" in prefopt.get_loss("simpo").declarations.claims
    assert main(["verify", "simpo", "--max-examples", "10"]) == 0
    plugin_block = capsys.readouterr().out.split("properties from prefopt-simpo ")[1]
    assert "PASS  per_token_shift" in plugin_block


def test_per_token_shift_catches_a_simpo_that_sums_log_probs():
    def summed(scores, options):
        """SimPO without length normalisation: its margin moves by c (|y_w| - |y_l|) when c is added per token."""
        rewards = options.beta * scores.policy
        return LossOutput(
            loss=-torch.nn.functional.logsigmoid(rewards[:, 0] - rewards[:, 1] - options.gamma),
            rewards=rewards.detach(),
        )

    wrong = Loss(replace(simpo, name="summed_simpo", function=summed), simpo.options())
    (result,) = check_loss(wrong, properties=["per_token_shift"], max_examples=50)
    assert result.failed and "per token" in result.counterexample
    (right,) = check_loss("simpo", properties=["per_token_shift"], max_examples=50)
    assert right.passed, right.counterexample


def test_the_plugin_guide_shows_the_property_module_as_it_is():
    code = Path(properties.__file__).read_text().split("from __future__ import annotations\n\n", 1)[1]
    guide = Path(__file__).resolve().parents[3] / "docs" / "writing-a-loss.md"
    assert code in guide.read_text()
