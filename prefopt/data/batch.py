"""Tokenised examples and the collated batch the engine feeds to the model.

A prompt and its K responses stay separate pieces (prompt ids once, response ids per response) and are
concatenated only inside the forward pass, which computes each prompt once for its responses
(:mod:`prefopt.model.packing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenizedExample:
    """One ranked example after tokenisation.

    Attributes:
        key: stable hash of the normalised example; reference log-probs are addressed by it.
        prompt_ids: the prompt's token ids (masked from the loss).
        response_ids: K token-id lists, each ending with EOS if the response finished (see
            :attr:`prefopt.types.RankedExample.finished`) and truncation did not cut its end. Ordered by rank.
        ranks: K ranks, ascending (0 the best); equal ranks are ties.
    """

    key: str
    prompt_ids: tuple[int, ...]
    response_ids: tuple[tuple[int, ...], ...]
    ranks: tuple[int, ...]


@dataclass
class Batch:
    """B examples padded to K slots.

    Attributes:
        keys: B example keys.
        prompt_ids: (B, P) long, left-padded so every prompt ends at column P - 1.
        prompt_mask: (B, P) bool, True on real prompt tokens.
        response_ids: (B, K, R) long, right-padded.
        response_mask: (B, K, R) bool, True on real response tokens.
        ranks: (B, K) long; padding slots hold a rank larger than any real one.
        valid: (B, K) bool, True on slots that hold a response.
    """

    keys: list[str]
    prompt_ids: Tensor
    prompt_mask: Tensor
    response_ids: Tensor
    response_mask: Tensor
    ranks: Tensor
    valid: Tensor

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: v.to(device) if isinstance(v, Tensor) else v for k, v in moved.items()})

    @property
    def lengths(self) -> Tensor:
        """(B, K) response token counts."""
        return self.response_mask.sum(dim=-1)


def collate(examples: Sequence[TokenizedExample], pad_token_id: int, num_slots: int | None = None) -> Batch:
    """Pad ``examples`` into a :class:`Batch` with ``num_slots`` slots (default: the largest K present)."""
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    slots = num_slots or max(len(e.response_ids) for e in examples)
    prompt_len = max(len(e.prompt_ids) for e in examples)
    response_len = max(len(r) for e in examples for r in e.response_ids)
    batch = len(examples)

    prompt_ids = torch.full((batch, prompt_len), pad_token_id, dtype=torch.long)
    prompt_mask = torch.zeros(batch, prompt_len, dtype=torch.bool)
    response_ids = torch.full((batch, slots, response_len), pad_token_id, dtype=torch.long)
    response_mask = torch.zeros(batch, slots, response_len, dtype=torch.bool)
    ranks = torch.full((batch, slots), slots, dtype=torch.long)
    valid = torch.zeros(batch, slots, dtype=torch.bool)
    for b, example in enumerate(examples):
        if len(example.response_ids) > slots:
            raise ValueError(
                f"example {example.key} has {len(example.response_ids)} responses, more than {slots} slots"
            )
        n = len(example.prompt_ids)
        if n:
            prompt_ids[b, prompt_len - n :] = torch.tensor(example.prompt_ids)
            prompt_mask[b, prompt_len - n :] = True
        for k, (ids, rank) in enumerate(zip(example.response_ids, example.ranks, strict=True)):
            response_ids[b, k, : len(ids)] = torch.tensor(ids)
            response_mask[b, k, : len(ids)] = True
            ranks[b, k] = rank
            valid[b, k] = True
    return Batch(
        keys=[e.key for e in examples],
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        response_ids=response_ids,
        response_mask=response_mask,
        ranks=ranks,
        valid=valid,
    )
