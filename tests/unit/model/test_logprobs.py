import gc
import inspect
import random
import weakref

import torch

from prefopt.data.batch import TokenizedExample, collate
from prefopt.model.logprobs import _accepts_logits_to_keep, choose_layout, sequence_logprobs, token_logprobs


def _examples(seed: int = 0) -> list[TokenizedExample]:
    rng = random.Random(seed)
    examples = []
    for i in range(5):
        k = rng.randint(2, 4)
        examples.append(
            TokenizedExample(
                key=f"e{i}",
                prompt_ids=tuple(rng.randrange(3, 64) for _ in range(rng.randint(1, 6))),
                response_ids=tuple(tuple(rng.randrange(3, 64) for _ in range(rng.randint(1, 5))) for _ in range(k)),
                ranks=tuple(range(k)),
            )
        )
    return examples


def _direct(model, prompt, response) -> list[float]:
    """Per-token log-probs of one unpadded sequence, from a full log-softmax."""
    ids = torch.tensor([list(prompt) + list(response)])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    return [float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(response)]


def test_batched_logprobs_equal_one_sequence_at_a_time(tiny_llama):
    examples = _examples()
    batch = collate(examples, pad_token_id=0)
    with torch.no_grad():
        result = sequence_logprobs(tiny_llama, batch, choose_layout(tiny_llama), token_level=True)
    for b, example in enumerate(examples):
        for k, response in enumerate(example.response_ids):
            expected = _direct(tiny_llama, example.prompt_ids, response)
            assert abs(float(result.summed[b, k]) - sum(expected)) < 1e-4
            got = result.token[b, k, : len(response)].tolist()
            assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) < 1e-4
            assert int(result.lengths[b, k]) == len(response)
        assert (result.summed[b, len(example.response_ids) :] == 0).all()
    assert torch.equal(result.token_mask, batch.response_mask)


def test_gradients_flow_to_the_model(tiny_llama):
    batch = collate(_examples(1), pad_token_id=0)
    sequence_logprobs(tiny_llama, batch, choose_layout(tiny_llama)).summed.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny_llama.parameters())


def test_token_logprobs_equal_log_softmax_in_bfloat16():
    logits = torch.randn(20, 3, 50).to(torch.bfloat16)
    targets = torch.randint(0, 50, (20, 3))
    expected = torch.log_softmax(logits.double(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, targets).double(), expected, atol=1e-5)


class _Wrapper(torch.nn.Module):
    """The shape of a PEFT model: its own forward takes anything, ``get_base_model`` returns the real model."""

    def __init__(self, base: torch.nn.Module) -> None:
        super().__init__()
        self.base = base

    def get_base_model(self) -> torch.nn.Module:
        return self.base

    def forward(self, *args, **kwargs):
        return self.base(*args, **kwargs)


class _NoLogitsToKeep(torch.nn.Module):
    def forward(self, input_ids, attention_mask=None, position_ids=None):
        raise NotImplementedError


def test_forward_signature_is_inspected_once_per_model(tiny_llama, monkeypatch):
    inspected = []
    signature = inspect.signature

    def counting_signature(function, *args, **kwargs):
        if getattr(function, "__self__", None) is tiny_llama:
            inspected.append(function)
        return signature(function, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting_signature)
    batch = collate(_examples(), pad_token_id=0)
    with torch.no_grad():
        first = sequence_logprobs(tiny_llama, batch, choose_layout(tiny_llama)).summed
        for _ in range(3):
            assert torch.equal(sequence_logprobs(tiny_llama, batch, choose_layout(tiny_llama)).summed, first)
    assert len(inspected) == 1


def test_wrappers_of_one_class_are_answered_from_their_own_base_model(tiny_llama):
    # the signature of LlamaForCausalLM.forward, read independently
    assert "logits_to_keep" in inspect.signature(type(tiny_llama).forward).parameters
    assert _accepts_logits_to_keep(_Wrapper(tiny_llama)) is True
    assert _accepts_logits_to_keep(_Wrapper(_NoLogitsToKeep())) is False
    assert _accepts_logits_to_keep(_Wrapper(tiny_llama)) is True


def test_remembering_the_signature_does_not_keep_the_model_alive():
    model = _NoLogitsToKeep()
    assert _accepts_logits_to_keep(model) is False
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
