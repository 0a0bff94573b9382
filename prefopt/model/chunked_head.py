"""Response log-probs from the decoder's hidden states, without the (positions x vocabulary) logits.

For a hidden state h_t (H,), the head's weight W (V, H) and bias b (V,), the per-token term of log pi(y | x)
(Rafailov et al. 2023, Eq. 7) is

    log pi(y_t | x, y_<t) = (h_t . W[y_t] + b[y_t]) - logsumexp_v (h_t . W[v] + b[v]).

The first term is a gather (T, H), never (T, V). The second runs through :class:`ChunkedLogSumExp`, which takes
``chunk`` positions through the head at a time and keeps only their float32 logsumexp; its backward recomputes
each chunk's logits and turns them into softmax probabilities (d logsumexp / d logits), so neither pass holds
more than (chunk, V) logits. Together the two give the gradient softmax - onehot of the plain log-softmax.

Only a model whose logits are exactly ``lm_head(decoder(...).last_hidden_state)`` with ``lm_head`` a plain
:class:`torch.nn.Linear` takes this path (:func:`find_plain_head`); any other model (final logit soft-capping or
scaling, a LoRA-wrapped head, an unknown architecture) runs the plain head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional

# causal LMs whose forward computes its logits as lm_head(model(...).last_hidden_state) and nothing else
# (checked in their transformers sources); others, such as Gemma2's soft-capping, Cohere's logit_scale or
# Granite's logits_scaling, change the logits after the head
PLAIN_HEAD_MODELS = frozenset(
    {
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen3ForCausalLM",
        "GemmaForCausalLM",
        "Olmo2ForCausalLM",
        "Phi3ForCausalLM",
        "SmolLM3ForCausalLM",
    }
)


class ChunkedLogSumExp(torch.autograd.Function):
    """logsumexp over the vocabulary of ``hidden @ weight.T + bias``, ``chunk`` positions at a time.

    Forward: hidden (M, H), weight (V, H), bias (V,) or None, chunk (int) -> (M,) float32 (float64 for float64
    inputs). Saves only its inputs and the (M,) result; backward recomputes each chunk's (chunk, V) logits, takes
    the softmax exp(logits - logsumexp) in float32 and accumulates the gradients of hidden, weight and bias in
    float32, whatever the head's dtype.
    """

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, chunk: int) -> Tensor:
        norms = hidden.new_empty(hidden.shape[0], dtype=_accumulation_dtype(hidden))
        for start in range(0, hidden.shape[0], chunk):
            part = hidden[start : start + chunk]
            norms[start : start + chunk] = functional.linear(part, weight, bias).to(norms.dtype).logsumexp(dim=-1)
        ctx.save_for_backward(hidden, weight, bias, norms)
        ctx.chunk = chunk
        return norms

    @staticmethod
    def backward(ctx, grad_norms: Tensor) -> tuple[Tensor | None, ...]:
        hidden, weight, bias, norms = ctx.saved_tensors
        needs_hidden, needs_weight, needs_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden) if needs_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=norms.dtype) if needs_weight else None
        grad_bias = torch.zeros_like(bias, dtype=norms.dtype) if needs_bias else None
        for start in range(0, hidden.shape[0], ctx.chunk):
            stop = start + ctx.chunk
            part = hidden[start:stop]
            logits = functional.linear(part, weight, bias).to(norms.dtype)  # (chunk, V)
            grad_logits = (logits - norms[start:stop, None]).exp_().mul_(grad_norms[start:stop, None])
            del logits
            if needs_bias:
                grad_bias += grad_logits.sum(dim=0)
            grad_logits = grad_logits.to(weight.dtype)
            if needs_hidden:
                grad_hidden[start:stop] = grad_logits @ weight
            if needs_weight:
                grad_weight += grad_logits.T @ part
        return (
            grad_hidden,
            None if grad_weight is None else grad_weight.to(weight.dtype),
            None if grad_bias is None else grad_bias.to(bias.dtype),
            None,
        )


def _accumulation_dtype(tensor: Tensor) -> torch.dtype:
    """float32, or the tensor's dtype where that is wider."""
    return torch.promote_types(tensor.dtype, torch.float32)


@dataclass
class ChunkedHead:
    """A causal LM split into its decoder and its plain linear head, the head taken ``chunk`` positions at a time.

    Attributes:
        decoder: the model's body; ``decoder(input_ids, attention_mask, position_ids).last_hidden_state`` is
            (rows, L, H).
        head: the output layer, weight (V, H) and bias (V,) or None.
        chunk: positions per chunk of (chunk, V) logits.
    """

    decoder: nn.Module
    head: nn.Linear
    chunk: int

    def hidden_states(self, **inputs: Tensor) -> Tensor:
        """(rows, L, H) final hidden states of the decoder for ``inputs`` (the model's forward keywords)."""
        return self.decoder(**inputs).last_hidden_state

    def token_logprobs(self, hidden: Tensor, source: Tensor, targets: Tensor) -> Tensor:
        """(N, R) float32 log-probs of ``targets`` (N, R) predicted by ``hidden[source]``.

        Args:
            hidden: (M, H) hidden states of the positions that predict some target.
            source: (N, R) long, the row of ``hidden`` predicting each target (several targets may share a row).
            targets: (N, R) long token ids.
        """
        weight, bias = self.head.weight, self.head.bias
        picked = torch.einsum("nrh,nrh->nr", hidden[source].float(), weight[targets].float())  # (N, R)
        if bias is not None:
            picked = picked + bias[targets].float()
        norms = ChunkedLogSumExp.apply(hidden, weight, bias, self.chunk)  # (M,)
        return picked - norms[source]


def find_plain_head(model: nn.Module) -> tuple[nn.Module, nn.Linear] | None:
    """The decoder and the head of ``model`` (or the model inside its PEFT wrapper) when its logits are exactly
    ``head(decoder(...).last_hidden_state)`` with ``head`` a plain :class:`~torch.nn.Linear`; None otherwise.

    None also for a model whose forward a wrapper changes: a distributed wrapper (``.module``) or a forward
    patched by accelerate for mixed precision (``_original_forward``), whose autocast the decoder called alone
    would miss.
    """
    if isinstance(getattr(model, "module", None), nn.Module) or hasattr(model, "_original_forward"):
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if type(base).__name__ not in PLAIN_HEAD_MODELS or hasattr(base, "_original_forward"):
        return None
    head = base.get_output_embeddings()
    if type(head) is not nn.Linear:  # a LoRA or other wrapped head computes more than weight and bias
        return None
    return base.get_decoder(), head
