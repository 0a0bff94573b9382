"""Points of the reward-KL frontier: mean reward of fresh samples and KL(pi || pi_ref) estimated from them.

For samples y ~ pi(.|x) of held-out prefixes x, the sequence-level KL is estimated as the mean of
log pi(y|x) - log pi_ref(y|x) (the DPO paper's Figure 2 x-axis, App. C.1), y being exactly the sampled tokens: a
completion that stopped ends with its EOS, one cut at ``max_new_tokens`` has none. Best-of-N from pi_ref is the
training-free baseline: its reward is the mean of the best of N scores, its KL the analytic
log N - (N - 1) / N (Stiennon et al. 2020; Beirami et al. 2024 show it is an upper bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.logprobs import choose_layout, sequence_logprobs
from prefopt.sampling import GenerationSettings, PromptSamples, sample_completions

LOGPROB_BATCH = 8  # prompts per forward pass when scoring samples


@dataclass(frozen=True)
class FrontierPoint:
    """Mean reward and estimated KL(pi || pi_ref) in nats of one policy, over ``samples`` completions."""

    reward: float
    kl: float
    samples: int


def sample_log_probs(model, samples: list[PromptSamples], pad_token_id: int) -> torch.Tensor:
    """(P, K) summed log-probs of every sampled completion's ids under ``model`` (EOS included where the
    completion stopped; none is added to a cut one)."""
    examples = [
        TokenizedExample(str(i), s.prompt_ids, s.completion_ids, tuple(range(len(s.completion_ids))))
        for i, s in enumerate(samples)
    ]
    rows, device, layout = [], next(model.parameters()).device, choose_layout(model)
    with torch.no_grad():
        for start in range(0, len(examples), LOGPROB_BATCH):
            batch = collate(examples[start : start + LOGPROB_BATCH], pad_token_id).to(device)
            rows.append(sequence_logprobs(model, batch, layout).summed.float())
    return torch.cat(rows).cpu()


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
    log_ratio = sample_log_probs(policy, samples, pad) - sample_log_probs(reference, samples, pad)
    policy.train(was_training)
    rewards = rewards_of(samples, scorer)
    return FrontierPoint(reward=float(rewards.mean()), kl=float(log_ratio.mean()), samples=rewards.numel())


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || pi) = log n - (n - 1) / n nats."""
    return math.log(n) - (n - 1) / n


def best_of_n(rewards: torch.Tensor, sizes: tuple[int, ...]) -> dict[int, FrontierPoint]:
    """Best-of-N points from (P, max N) rewards of samples of pi_ref: the best of the first N of each prompt."""
    return {
        n: FrontierPoint(
            reward=float(rewards[:, :n].max(dim=1).values.mean()), kl=best_of_n_kl(n), samples=rewards[:, :n].numel()
        )
        for n in sizes
    }
