"""Log-probs of sampled completions under a model, on exactly the tokens that were sampled.

Used to estimate KL(pi || pi_ref) from samples: the mean over samples y ~ pi of log pi(y|x) - log pi_ref(y|x)
(the DPO paper's Figure 2 x-axis). A completion that stopped counts its EOS; none is added to a cut one.
"""

from __future__ import annotations

import torch

from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.logprobs import choose_layout, sequence_logprobs
from prefopt.sampling.generate import PromptSamples

LOGPROB_BATCH = 8  # prompts per forward pass when scoring samples


def sample_log_probs(model, samples: list[PromptSamples], pad_token_id: int) -> torch.Tensor:
    """(P, K) summed log-probs of every sampled completion's ids under ``model`` (EOS included where the
    completion stopped; none is added to a cut one)."""
    return sample_log_prob_parts(model, samples, pad_token_id)[0]


def sample_log_prob_parts(model, samples: list[PromptSamples], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(summed, eos)``: (P, K) summed log-probs of every sampled completion's ids under ``model``, as
    :func:`sample_log_probs`, and (P, K) the part of them that the final EOS carries (0 where the completion was
    cut), so that a KL estimate can be split into what the endings contribute and what the text does."""
    examples = [
        TokenizedExample(str(i), s.prompt_ids, s.completion_ids, tuple(range(len(s.completion_ids))))
        for i, s in enumerate(samples)
    ]
    summed, last, device, layout = [], [], next(model.parameters()).device, choose_layout(model)
    with torch.no_grad():
        for start in range(0, len(examples), LOGPROB_BATCH):
            batch = collate(examples[start : start + LOGPROB_BATCH], pad_token_id).to(device)
            log_probs = sequence_logprobs(model, batch, layout, token_level=True)
            final = (log_probs.lengths - 1).clamp(min=0).unsqueeze(-1)  # (B, K, 1) each completion's last token
            summed.append(log_probs.summed.float())
            last.append(log_probs.token.gather(2, final).squeeze(-1).float())
    finished = torch.tensor([s.finished for s in samples], dtype=torch.bool)
    return torch.cat(summed).cpu(), torch.cat(last).cpu().where(finished, 0.0)
