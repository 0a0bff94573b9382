"""Points of the reward-KL frontier: mean reward of fresh samples and KL(pi || pi_ref) estimated from them.

For samples y ~ pi(.|x) of held-out prefixes x, the sequence-level KL is estimated as the mean of
log pi(y|x) - log pi_ref(y|x) (the DPO paper's Figure 2 x-axis, App. C.1), y being exactly the sampled tokens: a
completion that stopped ends with its EOS, one cut at ``max_new_tokens`` has none. Best-of-N from pi_ref is the
training-free baseline, an oracle here: it reranks pi_ref's samples with the evaluation scorer itself. Its reward is
the mean over disjoint groups of N samples of the best score of each group, its KL the analytic
log N - (N - 1) / N (Stiennon et al. 2020; Beirami et al. 2024 show it is an upper bound). With groups of one,
best-of-1 is the mean of the very samples it groups, so pi_ref's point and best-of-1 are one estimate.

A point keeps its per-sample values, (P, K) rewards and (P, K) log-ratios, so that its intervals can be drawn by
resampling prompts (:mod:`bootstrap`); and, to look for artefacts of how completions end, which completions
finished (ended in EOS) and the part of each log-ratio that the EOS token carries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from prefopt.experiments.sentiment.bootstrap import Bootstrap
from prefopt.sampling import GenerationSettings, PromptSamples, sample_completions, sample_log_prob_parts


@dataclass(frozen=True)
class FrontierPoint:
    """One policy measured on K fresh samples of each of P held-out prompts: (P, K) ``rewards``, (P, K)
    ``log_ratios`` log pi(y|x) - log pi_ref(y|x) in nats, (P, K) ``eos_log_ratios`` the part of them at the final
    EOS (0 for a cut completion) and (P, K) ``finished`` (bool: the completion ended in EOS)."""

    rewards: torch.Tensor
    log_ratios: torch.Tensor
    eos_log_ratios: torch.Tensor
    finished: torch.Tensor

    @staticmethod
    def joined(first: FrontierPoint, second: FrontierPoint) -> FrontierPoint:
        """The samples of both points of one policy, (P, K1 + K2) each."""
        pairs = zip(first.arrays(), second.arrays(), strict=True)
        return FrontierPoint(*(torch.cat(pair, dim=1) for pair in pairs))

    @staticmethod
    def from_per_sample(arrays: dict) -> FrontierPoint:
        """The point that :meth:`per_sample` wrote."""
        return FrontierPoint(
            *(torch.tensor(arrays[name], dtype=torch.float64) for name in ("rewards", "log_ratios", "eos_log_ratios")),
            torch.tensor(arrays["finished"], dtype=torch.bool),
        )

    def arrays(self) -> tuple[torch.Tensor, ...]:
        return self.rewards, self.log_ratios, self.eos_log_ratios, self.finished

    @property
    def reward(self) -> float:
        return float(self.rewards.mean())

    @property
    def kl(self) -> float:
        """The KL(pi || pi_ref) estimate: the mean log-ratio."""
        return float(self.log_ratios.mean())

    def summary(self, bootstrap: Bootstrap) -> dict:
        """``{"reward", "reward_ci", "kl", "kl_ci", "kl_eos", "kl_eos_ci", "finished", "samples"}``: the
        intervals clustered by prompt; ``kl_eos`` is the part of ``kl`` carried by EOS tokens, ``finished`` the
        share of completions that ended in EOS."""
        return {
            "reward": self.reward,
            "reward_ci": list(bootstrap.interval(self.rewards)),
            "kl": self.kl,
            "kl_ci": list(bootstrap.interval(self.log_ratios)),
            "kl_eos": float(self.eos_log_ratios.mean()),
            "kl_eos_ci": list(bootstrap.interval(self.eos_log_ratios)),
            "finished": float(self.finished.double().mean()),
            "samples": self.rewards.numel(),
        }

    def per_sample(self) -> dict:
        """The (P, K) arrays as nested lists, for the sidecar file."""
        return {
            "rewards": self.rewards.tolist(),
            "log_ratios": self.log_ratios.tolist(),
            "eos_log_ratios": self.eos_log_ratios.tolist(),
            "finished": self.finished.tolist(),
        }


def rewards_of(samples: list[PromptSamples], scorer) -> torch.Tensor:
    """(P, K) scores of every completion, the scorer seeing prompt and completion texts."""
    prompts = [s.prompt for s in samples for _ in s.completions]
    scores = scorer(prompts, [c for s in samples for c in s.completions])
    return torch.tensor(scores, dtype=torch.float64).view(len(samples), -1)


def evaluate_policy(
    policy, reference, tokenizer, prompts: list[str], scorer, settings: GenerationSettings
) -> FrontierPoint:
    """Sample ``settings.k`` completions of each prompt from ``policy``; their mean reward and mean
    log pi(y|x) - log pi_ref(y|x)."""
    was_training = policy.training
    samples = sample_completions(policy, tokenizer, prompts, settings)
    policy.eval()
    pad = tokenizer.pad_token_id
    (policy_summed, policy_eos), (reference_summed, reference_eos) = (
        sample_log_prob_parts(model, samples, pad) for model in (policy, reference)
    )
    policy.train(was_training)
    return FrontierPoint(
        rewards=rewards_of(samples, scorer),
        log_ratios=(policy_summed - reference_summed).double(),
        eos_log_ratios=(policy_eos - reference_eos).double(),
        finished=torch.tensor([s.finished for s in samples], dtype=torch.bool),
    )


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || pi) = log n - (n - 1) / n nats."""
    return math.log(n) - (n - 1) / n


def best_of_n(rewards: torch.Tensor, sizes: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Best-of-N from (P, M) rewards of samples of pi_ref, M a multiple of every N: per N, the (P, M / N) best
    scores of the disjoint groups of N consecutive samples of each prompt."""
    prompts, pool = rewards.shape
    for n in sizes:
        if pool % n:
            raise ValueError(f"best-of-{n} needs a pool of samples that is a multiple of {n}, not {pool}")
    return {n: rewards.view(prompts, pool // n, n).max(dim=2).values for n in sizes}
