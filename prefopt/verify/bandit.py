"""Tabular check of Theorem 1 / Lemma 2 on a small bandit (Rafailov et al. 2023, sections 4-5, App. A.1, A.5-A.6).

Prompts x = 0..X-1 each have Y discrete responses with a known reward r*(x, y) and a fixed reference policy
pi_ref(.|x) (a softmax). Preferences are sampled from Bradley-Terry on r* (pairs) or Plackett-Luce on r*
(K-way rankings). A tabular policy, one logit per (x, y), is fitted to them by minimising the loss (full batch,
L-BFGS, float64). For a loss that is the Bradley-Terry / Plackett-Luce likelihood of the implicit reward
beta * log(pi_theta / pi_ref), the minimiser is the maximum-likelihood reward, so with enough samples pi_theta
approaches the KL-constrained optimum (eq. 4)

    pi*(y|x) = pi_ref(y|x) * exp(r*(x, y) / beta) / Z(x).

The check passes when the largest total-variation distance over prompts, max_x TV(pi_theta(.|x), pi*(.|x)),
is below a tolerance (0.05 by default, with 20,000 pairs or 5,000 four-way rankings over 2 prompts x 5
responses; the sampling error at these sizes is about 0.005-0.02).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from prefopt.losses import Loss
from prefopt.types import Scores

TOLERANCE = 0.05
BANDIT_BETA = 1.0


@dataclass(frozen=True)
class Bandit:
    """A finite KL-constrained problem.

    Attributes:
        reward: (X, Y) the true reward r*(x, y).
        reference: (X, Y) log pi_ref(y|x); each row's logsumexp is 0.
        beta: the KL-penalty strength.
    """

    reward: Tensor
    reference: Tensor
    beta: float

    def optimal_policy(self) -> Tensor:
        """(X, Y) pi* = pi_ref * exp(r* / beta) / Z (paper eq. 4)."""
        return torch.softmax(self.reference + self.reward / self.beta, dim=-1)


def make_bandit(
    *,
    num_prompts: int = 2,
    num_responses: int = 5,
    beta: float = BANDIT_BETA,
    uniform_reference: bool = False,
    seed: int = 0,
) -> Bandit:
    """A random bandit: rewards uniform in [-1.5, 1.5], reference logits standard normal (or uniform pi_ref)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (num_prompts, num_responses)
    reward = (torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5) * 3.0
    logits = torch.zeros(shape, dtype=torch.float64)
    if not uniform_reference:
        logits = torch.randn(shape, generator=generator, dtype=torch.float64)
    return Bandit(reward=reward, reference=torch.log_softmax(logits, dim=-1), beta=beta)


def sample_rankings(bandit: Bandit, num_samples: int, slots: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sample Plackett-Luce rankings of ``slots`` distinct responses under r* (Bradley-Terry when slots = 2).

    A uniformly chosen prompt and subset of responses is ordered by r* + Gumbel noise, which draws the
    ranking from Plackett-Luce (App. A.3).

    Returns:
        prompts: (N,) prompt index of each sample.
        responses: (N, slots) response indices, best first.
    """
    num_prompts, num_responses = bandit.reward.shape
    prompts = torch.randint(num_prompts, (num_samples,), generator=generator)
    subsets = torch.rand(num_samples, num_responses, generator=generator).argsort(dim=1)[:, :slots]  # (N, slots)
    uniform = torch.rand(num_samples, slots, generator=generator, dtype=torch.float64).clamp_min(1e-12)
    noisy = bandit.reward[prompts.unsqueeze(1), subsets] - torch.log(-torch.log(uniform))  # r* + Gumbel
    order = noisy.argsort(dim=1, descending=True)
    return prompts, subsets.gather(1, order)


def fit_policy(loss: Loss, bandit: Bandit, prompts: Tensor, responses: Tensor, *, max_iter: int = 200) -> Tensor:
    """(X, Y) the tabular policy pi_theta = softmax(logits) minimising ``loss`` on the sampled preferences.

    Each sample becomes one row of Scores: policy (N, K) = log pi_theta at the ranked responses, reference the
    same under pi_ref, lengths 1.
    """
    logits = bandit.reference.clone().requires_grad_(True)
    reference = bandit.reference[prompts.unsqueeze(1), responses]  # (N, K)
    lengths = torch.ones_like(responses)
    optimizer = torch.optim.LBFGS(
        [logits],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        log_policy = torch.log_softmax(logits, dim=-1)[prompts.unsqueeze(1), responses]  # (N, K)
        scores = Scores(
            policy=log_policy, reference=reference if loss.declarations.needs_reference else None, lengths=lengths
        )
        value = loss(scores).loss
        value.backward()
        return value

    optimizer.step(closure)
    return torch.softmax(logits.detach(), dim=-1)


@dataclass(frozen=True)
class BanditResult:
    """Outcome of :func:`check_tabular_optimum`: the largest TV distance over prompts and the tolerance."""

    total_variation: float
    tolerance: float
    num_samples: int
    slots: int

    @property
    def passed(self) -> bool:
        return self.total_variation < self.tolerance

    def __str__(self) -> str:
        return (
            f"max_x TV(pi_theta, pi_ref*exp(r*/beta)/Z) = {self.total_variation:.4f} "
            f"(tolerance {self.tolerance}) after {self.num_samples} samples of K={self.slots}"
        )


def check_tabular_optimum(
    loss: Loss, *, seed: int = 0, num_samples: int | None = None, tolerance: float = TOLERANCE
) -> BanditResult:
    """Fit a tabular policy with ``loss`` on preferences sampled from r* and compare it with pi* (eq. 4).

    The loss's own options are kept except ``beta``, which is set to the bandit's beta = 1 (Theorem 1 holds
    for every beta > 0; beta = 1 lets a few thousand samples pin the optimum down). Listwise losses get
    four-way Plackett-Luce rankings (default 5,000), pairwise ones Bradley-Terry pairs (default 20,000).
    A reference-free loss is checked against a uniform pi_ref.
    """
    options = loss.definition.options(**{**loss.options.model_dump(), "beta": BANDIT_BETA})
    bandit_loss = Loss(loss.definition, options, pairs=loss.pairs)
    declarations = bandit_loss.declarations
    slots = 4 if declarations.listwise else 2
    num_samples = num_samples or (5_000 if declarations.listwise else 20_000)
    bandit = make_bandit(uniform_reference=not declarations.needs_reference, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    prompts, responses = sample_rankings(bandit, num_samples, slots, generator)
    policy = fit_policy(bandit_loss, bandit, prompts, responses)
    distance = 0.5 * (policy - bandit.optimal_policy()).abs().sum(dim=-1).max()
    return BanditResult(float(distance), tolerance, num_samples, slots)
