"""The packed forward (each prompt once, several examples per row) against the plain padded one."""

import math
import random

import pytest
import torch
from torch import nn

from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine.step import loss_step
from prefopt.losses import build_loss
from prefopt.model.logprobs import (
    Layout,
    choose_layout,
    sequence_logprobs,
    supports_packed_forward,
)
from prefopt.model.packing import pack_batch
from tests.conftest import make_tiny_llama


def _examples(slots: int, *, ties: bool, seed: int = 0) -> list[TokenizedExample]:
    """Examples of ``slots`` responses (one with fewer), lengths 1 to 9; one response 12 tokens long without EOS
    (cut by truncation), ranks tied pairwise when ``ties``."""
    rng = random.Random(seed)
    examples = []
    for i in range(6):
        k = slots if i != 2 else 2
        responses = [tuple(rng.randrange(3, 64) for _ in range(rng.randint(1, 9))) for _ in range(k)]
        if i == 4:
            responses[0] = tuple(rng.randrange(3, 64) for _ in range(12))  # truncated: longest, no EOS
        ranks = tuple(r // 2 for r in range(k)) if ties else tuple(range(k))
        prompt = tuple(rng.randrange(3, 64) for _ in range(rng.randint(1, 10)))
        examples.append(TokenizedExample(f"e{i}", prompt, tuple(responses), ranks))
    return examples


def _both_layouts(model, batch, token_level=False, pack_tokens=None):
    packed = sequence_logprobs(model, batch, Layout(packed=True, pack_tokens=pack_tokens), token_level=token_level)
    padded = sequence_logprobs(model, batch, Layout.PADDED, token_level=token_level)
    return packed, padded


def _assert_rows_are_shared(batch, pack_tokens):
    """``pack_tokens`` puts examples that the default budget gives rows of their own into shared rows."""
    if pack_tokens is not None:
        shared, alone = pack_batch(batch, torch.float32, pack_tokens), pack_batch(batch, torch.float32)
        assert shared.input_ids.shape[0] < alone.input_ids.shape[0]


@pytest.mark.parametrize("slots", [2, 4])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("pack_tokens", [None, 64])
def test_packed_log_probs_equal_the_padded_ones(slots, ties, pack_tokens):
    model = make_tiny_llama()
    batch = collate(_examples(slots, ties=ties), pad_token_id=0)
    _assert_rows_are_shared(batch, pack_tokens)
    with torch.no_grad():
        packed, padded = _both_layouts(model, batch, token_level=True, pack_tokens=pack_tokens)
    assert torch.allclose(packed.token, padded.token, atol=1e-5, rtol=0)
    assert torch.allclose(packed.summed, padded.summed, atol=1e-5, rtol=0)
    assert torch.equal(packed.lengths, padded.lengths)
    assert (packed.summed[~batch.valid] == 0).all()


@pytest.mark.parametrize(("slots", "loss_name"), [(2, "dpo"), (4, "plackett_luce")])
@pytest.mark.parametrize("pack_tokens", [None, 50])
def test_packed_loss_and_gradients_equal_the_padded_ones(slots, loss_name, pack_tokens):
    model = make_tiny_llama()
    batch = collate(_examples(slots, ties=False, seed=1), pad_token_id=0)
    _assert_rows_are_shared(batch, pack_tokens)
    loss = build_loss(loss_name)
    reference = torch.linspace(-30.0, -5.0, batch.valid.numel()).view_as(batch.valid.float())

    def loss_and_grads(packed: bool):
        model.zero_grad()
        layout = Layout(packed=True, pack_tokens=pack_tokens) if packed else Layout.PADDED
        _, out = loss_step(model, batch, layout, loss, lambda b: reference.masked_fill(~b.valid, 0.0))
        out.loss.backward()
        return out.loss.detach(), [p.grad.clone() for p in model.parameters()]

    packed_loss, packed_grads = loss_and_grads(True)
    padded_loss, padded_grads = loss_and_grads(False)
    assert abs(float(packed_loss) - float(padded_loss)) < 1e-5
    for packed, padded in zip(packed_grads, padded_grads, strict=True):
        assert torch.allclose(packed, padded, atol=1e-5, rtol=1e-4)


def test_identical_responses_give_the_first_dpo_loss_log_2():
    model = make_tiny_llama()
    response = (5, 6, 7)
    batch = collate([TokenizedExample("e", (3, 4), (response, response), (0, 1))], pad_token_id=0)
    _, out = loss_step(model, batch, Layout.PACKED, build_loss("dpo"), lambda b: torch.zeros(b.valid.shape))
    assert abs(out.loss.item() - math.log(2)) < 1e-6


def test_each_prompt_is_in_the_rows_once_and_rows_are_shared():
    examples = [  # 26 tokens, then two of 8: the short ones share a row
        TokenizedExample("long", (3, 4, 5, 6), (tuple(range(10, 22)), tuple(range(30, 40))), (0, 1)),
        TokenizedExample("short1", (7, 8), ((9, 10, 11), (12, 13, 14)), (0, 1)),
        TokenizedExample("short2", (15, 16), ((17, 18, 19), (20, 21, 22)), (0, 1)),
    ]
    rows = pack_batch(collate(examples, pad_token_id=0), torch.float32)
    real = int((rows.attention_mask[:, 0].diagonal(dim1=1, dim2=2) == 0).sum())  # every position sees itself
    assert real == rows.input_ids.numel()
    tokens = sum(len(e.prompt_ids) + sum(map(len, e.response_ids)) for e in examples)
    longest = max(len(e.prompt_ids) + sum(map(len, e.response_ids)) for e in examples)
    assert rows.input_ids.shape[1] == longest
    assert rows.input_ids.shape[0] == 2  # the two short examples share a row
    assert rows.input_ids.numel() >= tokens
    # a kept position per response token except each response's last, plus one per prompt
    slots = sum(len(e.response_ids) for e in examples)
    assert int(rows.keep.sum()) == len(examples) + sum(map(len, (r for e in examples for r in e.response_ids))) - slots


def test_a_token_budget_fills_rows_first_fit_longest_first():
    lengths = (10, 8, 8, 8)  # segments: a 2-token prompt and two responses
    examples = [
        TokenizedExample(f"e{i}", (3, 4), (tuple(range(5, 5 + n // 2 - 1)), tuple(range(20, 20 + n - n // 2 - 1))), (0, 1))
        for i, n in enumerate(lengths)
    ]
    batch = collate(examples, pad_token_id=0)
    assert pack_batch(batch, torch.float32).input_ids.shape == (4, 10)  # no two fit in 10 tokens
    assert pack_batch(batch, torch.float32, token_budget=5).input_ids.shape == (4, 10)  # below the longest
    # budget 24: rows [10, 8] and [8, 8], as long as the fullest row
    rows = pack_batch(batch, torch.float32, token_budget=24)
    assert rows.input_ids.shape == (2, 18)
    assert (rows.position_ids[1, 8:16] == rows.position_ids[1, :8]).all()  # positions restart per example


def test_a_response_token_sees_its_prompt_and_its_own_response_only():
    example = TokenizedExample("e", (3, 4), ((5, 6), (7, 8, 9)), (0, 1))
    rows = pack_batch(collate([example], pad_token_id=0), torch.float32)
    allowed = rows.attention_mask[0, 0] == 0  # (L, L): prompt 0-1, first response 2-3, second 4-6
    assert rows.input_ids[0].tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert rows.position_ids[0].tolist() == [0, 1, 2, 3, 2, 3, 4]
    assert allowed[5].tolist() == [True, True, False, False, True, True, False]
    assert allowed[3].tolist() == [True, True, True, True, False, False, False]
    assert allowed[1].tolist() == [True, True, False, False, False, False, False]


class _PlainCausalLM(nn.Module):
    """A causal LM whose forward takes only a 2D mask: not a transformers model."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = make_tiny_llama()

    def forward(self, input_ids, attention_mask, position_ids):
        assert attention_mask.dim() == 2
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)


def test_a_model_without_4d_masks_runs_padded_even_when_packing_is_asked_for():
    model = _PlainCausalLM()
    assert not supports_packed_forward(model) and choose_layout(model, packed=True) is Layout.PADDED
    batch = collate(_examples(2, ties=False), pad_token_id=0)
    with torch.no_grad():
        plain = sequence_logprobs(model, batch, choose_layout(model, packed=True)).summed
        expected = sequence_logprobs(model.inner, batch, Layout.PADDED).summed
    assert torch.equal(plain, expected)


def test_flash_attention_models_run_padded():
    model = make_tiny_llama()
    assert choose_layout(model) is Layout.PACKED
    model.config._attn_implementation = "flash_attention_2"
    assert not supports_packed_forward(model) and choose_layout(model) is Layout.PADDED
