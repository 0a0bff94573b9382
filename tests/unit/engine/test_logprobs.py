import random

import torch

from prefopt.data.batch import TokenizedExample, collate
from prefopt.engine.logprobs import sequence_logprobs, token_logprobs


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
        result = sequence_logprobs(tiny_llama, batch, token_level=True)
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
    sequence_logprobs(tiny_llama, batch).summed.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny_llama.parameters())


def test_token_logprobs_equal_log_softmax_in_bfloat16():
    logits = torch.randn(20, 3, 50).to(torch.bfloat16)
    targets = torch.randint(0, 50, (20, 3))
    expected = torch.log_softmax(logits.double(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, targets).double(), expected, atol=1e-5)
