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
