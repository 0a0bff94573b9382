"""K sampled completions per prompt, generated in batches with the model's KV cache (``model.generate``).

Prompts are encoded as the training data is (:mod:`prefopt.data.encode`): the tokenizer's leading special tokens
(e.g. BOS) before a text prompt, a chat prompt rendered with its template and the generation prompt. A completion
stops at EOS (kept in its ids, so that its log-probability counts the decision to stop; the completion is
*finished*) or is cut after ``max_new_tokens`` (no EOS). The text of a completion is decoded without special
tokens, so whether it finished is kept beside it. Generation is seeded per batch, so the same settings and batch
size give the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from prefopt.data.encode import special_prefix


@dataclass(frozen=True)
class GenerationSettings:
    """How to sample: ``k`` completions per prompt, at most ``max_new_tokens`` tokens each, with ``temperature``
    and nucleus ``top_p``; ``batch_size`` sequences per ``generate`` call; ``seed`` of the first batch."""

    k: int = 4
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class PromptSamples:
    """One prompt's samples: its ids, and K completions as ids (ending with EOS when the model stopped), as text,
    and whether each finished (stopped at EOS) rather than being cut at ``max_new_tokens``."""

    prompt: str | list
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[tuple[int, ...], ...]
    completions: tuple[str, ...]
    finished: tuple[bool, ...]

    def record(self) -> dict:
        """The samples record of ``prefopt sample``: ``{"prompt", "responses", "finished"}``."""
        return {"prompt": self.prompt, "responses": list(self.completions), "finished": list(self.finished)}


def prompt_ids(prompt: str | list, tokenizer) -> list[int]:
    """The ids the model is conditioned on: a text prompt after the tokenizer's leading special tokens, or a list
    of chat messages rendered with the tokenizer's chat template and its generation prompt."""
    if isinstance(prompt, str):
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        prefix = special_prefix(tokenizer)
        return ids if ids[: len(prefix)] == prefix else prefix + ids
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L) ids left-padded with ``pad_id`` and the (N, L) attention mask."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def _completion(ids: list[int], eos_id: int) -> tuple[int, ...]:
    """Generated ids up to and including the first EOS (the padding ``generate`` adds after it removed)."""
    return tuple(ids[: ids.index(eos_id) + 1]) if eos_id in ids else tuple(ids)


@torch.no_grad()
def sample_completions(
    model, tokenizer, prompts: Sequence[str | list], settings: GenerationSettings, *, progress: bool = False
) -> list[PromptSamples]:
    """Sample ``settings.k`` completions of every prompt.

    Each prompt is repeated K times; ``settings.batch_size`` of these sequences (left-padded, ids (N, L)) go
    through one ``model.generate`` call, which reuses the KV cache of earlier positions at every new token.

    Returns:
        one :class:`PromptSamples` per prompt, in order.
    """
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    pad_id = eos_id if pad_id is None else pad_id
    encoded = [prompt_ids(prompt, tokenizer) for prompt in prompts]
    jobs = [(p, ids) for p, ids in enumerate(encoded) for _ in range(settings.k)]
    generated: list[tuple[int, ...]] = []
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(jobs), disable=not progress, desc="sampling", unit="sample")
    for start in range(0, len(jobs), settings.batch_size):
        chunk = [ids for _, ids in jobs[start : start + settings.batch_size]]
        input_ids, mask = _left_padded(chunk, pad_id)
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
            torch.manual_seed(settings.seed + start // settings.batch_size)
            out = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                top_k=0,
                max_new_tokens=settings.max_new_tokens,
                pad_token_id=pad_id,
                eos_token_id=eos_id,
                use_cache=True,
            )
        generated += [_completion(row, eos_id) for row in out[:, input_ids.shape[1] :].tolist()]
        bar.update(len(chunk))
    bar.close()
    model.train(was_training)
    results = []
    for p, prompt in enumerate(prompts):
        ids = generated[p * settings.k : (p + 1) * settings.k]
        texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
        finished = tuple(completion[-1:] == (eos_id,) for completion in ids)
        results.append(PromptSamples(prompt, tuple(encoded[p]), tuple(ids), tuple(texts), finished))
    return results
