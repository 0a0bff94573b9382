"""The chunked head (prefopt.model.chunked_head) against the model's own head: the same log-probs and gradients,
and never a (positions x vocabulary) tensor."""

import math
import random

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from prefopt.config import ModelConfig
from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.chunked_head import ChunkedLogSumExp, find_plain_head
from prefopt.model.logprobs import Layout, configured_layout, sequence_logprobs
from tests.conftest import make_tiny_llama

VOCAB = 96  # no other dimension of the tiny model is 96, so a tensor whose last dimension is 96 holds logits


def _examples(slots: int, seed: int = 0, count: int = 6) -> list[TokenizedExample]:
    """``count`` examples of ``slots`` responses (the third with two), prompts of 1 to 10 tokens, responses of 1 to
    12."""
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        k = slots if i != 2 else 2
        prompt = tuple(rng.randrange(3, VOCAB) for _ in range(rng.randint(1, 10)))
        responses = tuple(tuple(rng.randrange(3, VOCAB) for _ in range(rng.randint(1, 12))) for _ in range(k))
        examples.append(TokenizedExample(f"e{i}", prompt, responses, tuple(range(k))))
    return examples


def _logprobs_and_grads(model, batch, layout):
    """Per-token log-probs (B, K, R) and the gradient of every weight for a fixed random weighting of them."""
    model.zero_grad()
    result = sequence_logprobs(model, batch, layout, token_level=True)
    weights = torch.randn(result.token.shape, generator=torch.Generator().manual_seed(1))
    (result.token * weights).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    return result.token.detach(), grads


def _assert_same(got, expected, *, atol, rtol):
    (token, grads), (expected_token, expected_grads) = got, expected
    assert torch.allclose(token, expected_token, atol=atol, rtol=0)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        error = (grad.double() - expected_grads[name].double()).norm()
        assert error <= rtol * expected_grads[name].double().norm(), name


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("slots", [2, 4])
@pytest.mark.parametrize("chunk", [7, 1024])
def test_chunked_head_gives_the_log_probs_and_gradients_of_the_plain_head(packed, tied, slots, chunk):
    model = make_tiny_llama(VOCAB, tied=tied)
    batch = collate(_examples(slots), pad_token_id=0)
    chunked = Layout(packed=packed, chunked_head=True, head_chunk_positions=chunk)
    plain = Layout(packed=packed, chunked_head=False)
    _assert_same(
        _logprobs_and_grads(model, batch, chunked), _logprobs_and_grads(model, batch, plain), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("packed", [True, False])
def test_chunked_head_in_bfloat16_matches_the_plain_head(packed):
    model = make_tiny_llama(VOCAB, tied=True).to(torch.bfloat16)
    batch = collate(_examples(4), pad_token_id=0)
    chunked = Layout(packed=packed, chunked_head=True, head_chunk_positions=5)
    plain = Layout(packed=packed, chunked_head=False)
    # the plain head rounds each logit to bfloat16 before the float32 log-softmax; the chunked one gathers the
    # target's logit in float32, so they differ by a bfloat16 rounding of a logit (2**-8 relative)
    _assert_same(
        _logprobs_and_grads(model, batch, chunked), _logprobs_and_grads(model, batch, plain), atol=5e-3, rtol=3e-2
    )


def test_chunked_logsumexp_gradients_with_a_bias_equal_finite_differences():
    generator = torch.Generator().manual_seed(0)
    hidden, weight, bias = (torch.randn(*shape, generator=generator, dtype=torch.float64) for shape in ((11, 5), (9, 5), (9,)))
    for tensor in (hidden, weight, bias):
        tensor.requires_grad_(True)
    assert torch.allclose(
        ChunkedLogSumExp.apply(hidden, weight, bias, 4), (hidden @ weight.T + bias).logsumexp(dim=-1), atol=1e-12
    )
    assert torch.autograd.gradcheck(lambda h, w, b: ChunkedLogSumExp.apply(h, w, b, 4), (hidden, weight, bias))


class _ResultShapes(TorchDispatchMode):
    """Records the shape of every tensor an operator returns, forward and backward."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.shapes += [tuple(t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        return out


def _largest_logits(layout: Layout) -> int:
    """The most positions of any (..., V) tensor created by a forward and backward pass of the tiny model."""
    model = make_tiny_llama(VOCAB)
    batch = collate(_examples(4, count=8), pad_token_id=0)
    with _ResultShapes() as recorder:
        sequence_logprobs(model, batch, layout).summed.sum().backward()
    return max(math.prod(shape[:-1]) for shape in recorder.shapes if shape and shape[-1] == VOCAB)


@pytest.mark.parametrize("packed", [True, False])
def test_chunked_head_never_creates_more_than_one_chunk_of_logits(packed):
    chunk = 40  # above the hidden size, 32, so the head's weight (V, H), seen transposed, counts as 32 positions
    assert _largest_logits(Layout(packed=packed, chunked_head=True, head_chunk_positions=chunk)) == chunk
    # the plain head holds the logits of every predicting position at once
    assert _largest_logits(Layout(packed=packed, chunked_head=False)) > 3 * chunk


class _ScaledLlama(nn.Module):
    """A Llama whose forward scales its logits after the head, as Cohere's logit_scale does."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = make_tiny_llama(VOCAB)
        self.config = self.inner.config

    def forward(self, **kwargs):
        out = self.inner(**kwargs)
        out.logits = out.logits * 3.0
        return out


def test_a_model_that_changes_its_logits_after_the_head_runs_its_own_forward():
    model = _ScaledLlama()
    batch = collate(_examples(2), pad_token_id=0)
    assert find_plain_head(model) is None
    with torch.no_grad():
        auto = sequence_logprobs(model, batch, Layout(packed=False), token_level=True).token
        plain = sequence_logprobs(model, batch, Layout(packed=False, chunked_head=False), token_level=True).token
    assert torch.equal(auto, plain)
    with pytest.raises(ValueError, match="model.chunked_head=true"):
        sequence_logprobs(model, batch, Layout(packed=False, chunked_head=True))


def test_gemma2_soft_capping_is_not_taken_for_a_plain_head():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, final_logit_softcapping=5.0,
    )  # fmt: skip
    assert find_plain_head(Gemma2ForCausalLM(config)) is None
    assert find_plain_head(make_tiny_llama(VOCAB)) is not None


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["q_proj", "lm_head"]])
def test_lora_models_take_the_chunked_head_unless_the_head_is_adapted(targets):
    peft = pytest.importorskip("peft")
    model = make_tiny_llama(VOCAB)
    model = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=targets, init_lora_weights=False))
    assert (find_plain_head(model) is None) == ("lm_head" in targets)
    batch = collate(_examples(2), pad_token_id=0)
    auto, plain = (Layout(packed=True, head_chunk_positions=5), Layout(packed=True, chunked_head=False))
    _assert_same(_logprobs_and_grads(model, batch, auto), _logprobs_and_grads(model, batch, plain), atol=1e-5, rtol=1e-5)


def test_configured_layout_carries_the_model_settings():
    settings = ModelConfig(pack_tokens=64, chunked_head=False, head_chunk_positions=7)
    assert configured_layout(make_tiny_llama(), settings) == Layout(
        packed=True, pack_tokens=64, chunked_head=False, head_chunk_positions=7
    )
    assert configured_layout(make_tiny_llama(), ModelConfig(packed_forward=False)) == Layout.PADDED
