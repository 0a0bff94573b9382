"""Response log-probs of a causal LM: the engine's only model forward.

One forward pass computes every response slot of a batch: prompts (left-padded) and responses (right-padded)
are concatenated into (N, P + R) rows, one per valid (prompt, response) slot, and only the logits that predict
response tokens are kept.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from prefopt.data.batch import Batch

# positions whose logsumexp is taken in float32 at once: bounds the float32 working copy of the vocabulary
# logits to _LOGSUMEXP_CHUNK x V values whatever the batch and sequence length
_LOGSUMEXP_CHUNK = 1024


@dataclass
class SequenceLogProbs:
    """Log-probs of every response slot of a batch.

    Attributes:
        summed: (B, K) float32, sum over response tokens of log pi(y_t | x, y_<t); 0 on invalid slots.
        lengths: (B, K) long, response token counts.
        token: (B, K, R) float32 per-token log-probs (0 on padding), only when asked for.
        token_mask: (B, K, R) bool, only when asked for.
    """

    summed: Tensor
    lengths: Tensor
    token: Tensor | None = None
    token_mask: Tensor | None = None


# model -> whether its forward takes ``logits_to_keep``; weak keys, so a model freed elsewhere leaves no entry
_LOGITS_TO_KEEP: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


def _accepts_logits_to_keep(model: nn.Module) -> bool:
    """Whether the model can skip the logits of prompt positions (PEFT wrappers pass keywords through).

    The forward's signature is inspected once per model (a PEFT wrapper: once per wrapper, from its base model)
    and remembered for the model's lifetime.
    """
    accepts = _LOGITS_TO_KEEP.get(model)
    if accepts is None:
        accepts = _LOGITS_TO_KEEP[model] = _forward_accepts_logits_to_keep(model)
    return accepts


def _forward_accepts_logits_to_keep(model: nn.Module) -> bool:
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    forward = getattr(model, "forward", None)
    try:
        return "logits_to_keep" in inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return False


def token_logprobs(logits: Tensor, targets: Tensor) -> Tensor:
    """(N, R) float32 log-softmax of ``logits`` (N, R, V) at ``targets`` (N, R).

    Computed as the gathered logit minus a float32 logsumexp over the vocabulary, taken ``_LOGSUMEXP_CHUNK``
    positions at a time, so no float32 log-softmax of shape (N, R, V) is materialised.
    """
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()  # (N, R)
    # views of at most _LOGSUMEXP_CHUNK positions of one sequence (logits may be a non-contiguous slice)
    chunks = [chunk for row in logits for chunk in row.split(_LOGSUMEXP_CHUNK)]
    norms = torch.cat([chunk.float().logsumexp(dim=-1) for chunk in chunks])  # (N * R,)
    return picked - norms.view_as(picked)


def sequence_logprobs(model: nn.Module, batch: Batch, *, token_level: bool = False) -> SequenceLogProbs:
    """Log-probs of each response given its prompt, for every valid slot of ``batch``.

    Args:
        model: a Hugging Face causal LM (``model(input_ids, attention_mask, position_ids).logits``).
        batch: prompts (B, P), responses (B, K, R).
        token_level: also return per-token log-probs (B, K, R) for losses that declare they need them.
    """
    batch_size, slots, resp_len = batch.response_ids.shape
    prompt_len = batch.prompt_ids.shape[1]
    if prompt_len == 0:
        raise ValueError("every example needs at least one prompt token to condition the first response token")
    rows_b, rows_k = batch.valid.nonzero(as_tuple=True)  # (N,) the valid slots
    input_ids = torch.cat([batch.prompt_ids[rows_b], batch.response_ids[rows_b, rows_k]], dim=1)  # (N, P + R)
    attention = torch.cat([batch.prompt_mask[rows_b], batch.response_mask[rows_b, rows_k]], dim=1)
    position_ids = (attention.long().cumsum(dim=1) - 1).clamp(min=0)

    kwargs = {"logits_to_keep": resp_len + 1} if _accepts_logits_to_keep(model) else {}
    logits = model(input_ids=input_ids, attention_mask=attention.long(), position_ids=position_ids, **kwargs).logits
    logits = logits[:, -(resp_len + 1) : -1]  # (N, R, V): position P - 1 + t predicts response token t
    response_mask = batch.response_mask[rows_b, rows_k]  # (N, R)
    per_token = token_logprobs(logits, batch.response_ids[rows_b, rows_k]).masked_fill(~response_mask, 0.0)

    summed = per_token.new_zeros(batch_size, slots).index_put((rows_b, rows_k), per_token.sum(dim=1))
    result = SequenceLogProbs(summed=summed, lengths=batch.lengths)
    if token_level:
        result.token = per_token.new_zeros(batch_size, slots, resp_len).index_put((rows_b, rows_k), per_token)
        result.token_mask = batch.response_mask
    return result
