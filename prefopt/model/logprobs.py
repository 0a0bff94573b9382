"""Response log-probs of a causal LM: the only model forward of training, evaluation and the reference.

One forward pass computes every response slot of a batch, in one of two layouts:

- packed (the default where the model takes it): each prompt once, followed by its K responses, several examples
  per row, with a 4D attention mask (:mod:`prefopt.model.packing`); only the logits that predict response
  tokens are computed;
- padded: prompts (left-padded) and responses (right-padded) concatenated into (N, P + R) rows, one per valid
  (prompt, response) slot. Any causal LM taking ``input_ids``, ``attention_mask`` and ``position_ids`` runs in it.

Both give the same log-probs up to float rounding. Where the model allows it
(:func:`~prefopt.model.chunked_head.find_plain_head`), the head runs in chunks of positions
(:mod:`prefopt.model.chunked_head`), so that no (positions x vocabulary) logits exist in the forward or the
backward pass; else the model's own forward computes the logits of every kept position. The layout is an argument
of every forward; :func:`choose_layout` picks it for a model.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from prefopt.config import ModelConfig
from prefopt.data.batch import Batch
from prefopt.model.chunked_head import ChunkedHead, find_plain_head
from prefopt.model.packing import pack_batch
from prefopt.model.vector_math import settle_vector_math

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


# model -> the parameter names of its forward; weak keys, so a model freed elsewhere leaves no entry
_FORWARD_PARAMETERS: weakref.WeakKeyDictionary[nn.Module, frozenset[str]] = weakref.WeakKeyDictionary()


def _forward_parameters(model: nn.Module) -> frozenset[str]:
    """The keywords the model's forward takes (PEFT wrappers pass keywords through to their base model).

    The forward's signature is inspected once per model (a PEFT wrapper: once per wrapper, from its base model)
    and remembered for the model's lifetime.
    """
    names = _FORWARD_PARAMETERS.get(model)
    if names is None:
        names = _FORWARD_PARAMETERS[model] = _inspect_forward(model)
    return names


def _inspect_forward(model: nn.Module) -> frozenset[str]:
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    forward = getattr(model, "forward", None)
    try:
        return frozenset(inspect.signature(forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _accepts_logits_to_keep(model: nn.Module) -> bool:
    """Whether the model can skip the logits of prompt positions."""
    return "logits_to_keep" in _forward_parameters(model)


_MASKED_ATTENTION = ("eager", "sdpa")  # attention implementations that take an arbitrary additive 4D mask


@dataclass(frozen=True)
class Layout:
    """How :func:`sequence_logprobs` lays a batch out and computes the head (see the module docstring).

    Attributes:
        packed: packed rows (several examples per row, a 4D mask) or one padded row per slot.
        pack_tokens: packed rows hold examples up to this many tokens (first fit, longest first); None: rows as
            long as the longest example. An example longer than the budget has a row of its own.
        chunked_head: the head in chunks of positions: ``"auto"`` where the model allows it, True there only
            (any other model is an error), False never.
        head_chunk_positions: positions per chunk of the chunked head.
    """

    packed: bool
    pack_tokens: int | None = None
    chunked_head: bool | Literal["auto"] = "auto"
    head_chunk_positions: int = 1024

    PACKED: ClassVar[Layout]
    PADDED: ClassVar[Layout]


Layout.PACKED = Layout(packed=True)
Layout.PADDED = Layout(packed=False)


def _unwrapped(model: nn.Module) -> nn.Module:
    """The Hugging Face model inside distributed (``.module``) and PEFT (``get_base_model``) wrappers."""
    while isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports_packed_forward(model: nn.Module) -> bool:
    """Whether ``model`` takes a custom 4D attention mask with position ids: a transformers model whose attention
    is ``eager`` or ``sdpa`` (flash attention and custom kernels ignore such masks)."""
    from transformers import PreTrainedModel

    base = _unwrapped(model)
    if not isinstance(base, PreTrainedModel) or "position_ids" not in _forward_parameters(base):
        return False
    return getattr(base.config, "_attn_implementation", None) in _MASKED_ATTENTION


def choose_layout(model: nn.Module, packed: bool = True) -> Layout:
    """The layout to run ``model`` (or any wrapper of it) in: packed if ``packed`` is asked for (the setting
    ``model.packed_forward``) and the model supports it, else padded; the other settings at their defaults."""
    return Layout.PACKED if packed and supports_packed_forward(model) else Layout.PADDED


def configured_layout(model: nn.Module, settings: ModelConfig) -> Layout:
    """The layout of :func:`choose_layout` with the settings ``model.pack_tokens``, ``model.chunked_head`` and
    ``model.head_chunk_positions``."""
    return Layout(
        packed=settings.packed_forward and supports_packed_forward(model),
        pack_tokens=settings.pack_tokens,
        chunked_head=settings.chunked_head,
        head_chunk_positions=settings.head_chunk_positions,
    )


def _chunked_head(model: nn.Module, layout: Layout) -> ChunkedHead | None:
    """The chunked head of ``model`` if ``layout`` asks for it and the model allows it (checked at every forward,
    as adapters may wrap the head after the layout is chosen)."""
    if layout.chunked_head is False:
        return None
    found = find_plain_head(model)
    if found is None:
        if layout.chunked_head is True:
            raise ValueError(
                f"model.chunked_head=true, but {type(_unwrapped(model)).__name__} has no plain linear head the "
                "chunked head supports (see docs/configuration.md); set model.chunked_head=auto or false"
            )
        return None
    return ChunkedHead(*found, chunk=layout.head_chunk_positions)


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


def _keeps_logits_by_mask() -> bool:
    """Whether the installed transformers takes a (rows, L) boolean ``logits_to_keep`` (it returns (M, V))."""
    import transformers.modeling_utils

    return hasattr(transformers.modeling_utils, "slice_logits_to_keep")


def _packed_token_logprobs(model: nn.Module, batch: Batch, targets: Tensor, layout: Layout) -> Tensor:
    """(N, R) float32 log-probs of ``targets`` (N, R), the valid slots' responses, from one packed forward."""
    rows = pack_batch(batch, next(model.parameters()).dtype, layout.pack_tokens)
    inputs = {"input_ids": rows.input_ids, "attention_mask": rows.attention_mask, "position_ids": rows.position_ids}
    head = _chunked_head(model, layout)
    if head is not None:
        return head.token_logprobs(head.hidden_states(**inputs)[rows.keep], rows.source, targets)
    kwargs = {"logits_to_keep": rows.keep} if _keeps_logits_by_mask() and _accepts_logits_to_keep(model) else {}
    logits = model(**inputs, **kwargs).logits
    if logits.dim() == 3:  # the model computed every position's logits
        logits = logits[rows.keep]
    # (M, V): one row per kept position; the first token of every response of a prompt shares one row
    norms = torch.cat([chunk.float().logsumexp(dim=-1) for chunk in logits.split(_LOGSUMEXP_CHUNK)])  # (M,)
    return logits[rows.source, targets].float() - norms[rows.source]


def _padded_token_logprobs(model: nn.Module, batch: Batch, rows_b: Tensor, rows_k: Tensor, layout: Layout) -> Tensor:
    """(N, R) float32 log-probs of the valid slots' responses, one padded (P + R) row per slot."""
    resp_len = batch.response_ids.shape[2]
    targets = batch.response_ids[rows_b, rows_k]  # (N, R)
    input_ids = torch.cat([batch.prompt_ids[rows_b], targets], dim=1)  # (N, P + R)
    attention = torch.cat([batch.prompt_mask[rows_b], batch.response_mask[rows_b, rows_k]], dim=1)
    position_ids = (attention.long().cumsum(dim=1) - 1).clamp(min=0)
    inputs = {"input_ids": input_ids, "attention_mask": attention.long(), "position_ids": position_ids}
    # position P - 1 + t predicts response token t
    head = _chunked_head(model, layout)
    if head is not None:
        hidden = head.hidden_states(**inputs)[:, -(resp_len + 1) : -1]  # (N, R, H)
        source = torch.arange(targets.numel(), device=targets.device).view_as(targets)
        return head.token_logprobs(hidden.flatten(0, 1), source, targets)
    kwargs = {"logits_to_keep": resp_len + 1} if _accepts_logits_to_keep(model) else {}
    logits = model(**inputs, **kwargs).logits[:, -(resp_len + 1) : -1]  # (N, R, V)
    return token_logprobs(logits, targets)


def sequence_logprobs(
    model: nn.Module, batch: Batch, layout: Layout, *, token_level: bool = False
) -> SequenceLogProbs:
    """Log-probs of each response given its prompt, for every valid slot of ``batch``.

    Args:
        model: a Hugging Face causal LM (``model(input_ids, attention_mask, position_ids).logits``).
        batch: prompts (B, P), responses (B, K, R).
        layout: packed (only for a model that :func:`supports_packed_forward`; see :func:`choose_layout`) or
            padded, with the head's settings.
        token_level: also return per-token log-probs (B, K, R) for losses that declare they need them.
    """
    settle_vector_math()  # also for a model not loaded by load_model: its first pass computes as every later one
    batch_size, slots, resp_len = batch.response_ids.shape
    if batch.prompt_ids.shape[1] == 0:
        raise ValueError("every example needs at least one prompt token to condition the first response token")
    rows_b, rows_k = batch.valid.nonzero(as_tuple=True)  # (N,) the valid slots
    if layout.packed:
        per_token = _packed_token_logprobs(model, batch, batch.response_ids[rows_b, rows_k], layout)
    else:
        per_token = _padded_token_logprobs(model, batch, rows_b, rows_k, layout)
    response_mask = batch.response_mask[rows_b, rows_k]  # (N, R)
    per_token = per_token.masked_fill(~response_mask, 0.0)

    summed = per_token.new_zeros(batch_size, slots).index_put((rows_b, rows_k), per_token.sum(dim=1))
    result = SequenceLogProbs(summed=summed, lengths=batch.lengths)
    if token_level:
        result.token = per_token.new_zeros(batch_size, slots, resp_len).index_put((rows_b, rows_k), per_token)
        result.token_mask = batch.response_mask
    return result
