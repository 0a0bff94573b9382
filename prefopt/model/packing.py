"""The packed layout of a batch: each prompt computed once for its K responses, several examples per row.

One example becomes one segment: its prompt, then each of its responses. A 4D attention mask lets every prompt
token see the earlier tokens of its prompt and every response token see the whole prompt and the earlier tokens of
its own response, nothing else; position ids restart after the prompt for each response, so a response token sits
at the position it has in the plain row ``prompt + response``. Segments are packed first-fit, longest first, into
rows of a token budget (at least the longest segment, which is the default budget), so a batch holds each prompt
once; a budget above the longest segment lets short segments share rows and leaves less padding. Every response
token is predicted from exactly the context it has in the plain layout, so log pi(y | x) (Rafailov et al. 2023,
Eq. 7) is unchanged up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from prefopt.data.batch import Batch


@dataclass
class PackedRows:
    """A batch laid out as packed rows.

    Attributes:
        input_ids: (rows, L) long, padding holds the batch's first prompt token (never attended to by real tokens).
        position_ids: (rows, L) long.
        attention_mask: (rows, 1, L, L) float, 0 where a query (dim 2) may attend a key (dim 3), the dtype's minimum
            elsewhere (additive, as Hugging Face models take a prepared 4D mask).
        keep: (rows, L) bool, the positions whose logits predict some response token.
        source: (N, R) long, for each valid slot (in ``batch.valid.nonzero()`` order) and response position t, the
            index among the kept positions (row-major) of the logits that predict token t; 0 on padding.
    """

    input_ids: Tensor
    position_ids: Tensor
    attention_mask: Tensor
    keep: Tensor
    source: Tensor


def _segments(batch: Batch) -> list[list[Tensor]]:
    """Per example: its prompt's real tokens then each valid response's real tokens (1D long tensors)."""
    segments = []
    for b in range(batch.prompt_ids.shape[0]):
        pieces = [batch.prompt_ids[b][batch.prompt_mask[b]]]
        for k in batch.valid[b].nonzero().flatten().tolist():
            pieces.append(batch.response_ids[b, k][batch.response_mask[b, k]])
        segments.append(pieces)
    return segments


def _first_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Example indices grouped into rows of at most ``capacity`` tokens: longest first, each into the first row
    with room (ties by index, so the layout is a function of the batch alone)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        row = next((r for r, free in enumerate(room) if free >= lengths[index]), None)
        if row is None:
            rows.append([])
            room.append(capacity)
            row = len(rows) - 1
        rows[row].append(index)
        room[row] -= lengths[index]
    return rows


def pack_batch(batch: Batch, mask_dtype: torch.dtype, token_budget: int | None = None) -> PackedRows:
    """Lay ``batch`` out as packed rows (see the module docstring); ``mask_dtype`` is the model's float dtype.

    Rows hold segments up to ``max(token_budget, longest segment)`` tokens (None: the longest segment) and are as
    long as the fullest row.
    """
    segments = _segments(batch)
    lengths = [sum(len(piece) for piece in pieces) for pieces in segments]
    rows = _first_fit(lengths, max(max(lengths), token_budget or 0))
    width = max(sum(lengths[b] for b in members) for members in rows)
    device = batch.prompt_ids.device
    shape = (len(rows), width)
    input_ids = torch.full(shape, int(batch.prompt_ids[0, -1]), dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    example = torch.full(shape, -1, dtype=torch.long)  # owner of each position; -1 on padding
    branch = torch.zeros(shape, dtype=torch.long)  # 0 prompt, k + 1 the k-th valid response of its example
    keep = torch.zeros(shape, dtype=torch.bool)
    # flat position (row * width + column) of the logits that predict each token of each valid slot
    predictor: list[list[int]] = [[] for _ in range(int(batch.valid.sum()))]
    first_slot = torch.cumsum(batch.valid.sum(dim=1), dim=0) - batch.valid.sum(dim=1)  # (B,) first slot per example
    for r, members in enumerate(rows):
        column = 0
        for b in members:
            prompt, *responses = segments[b]
            n = len(prompt)
            span = slice(column, column + n)
            input_ids[r, span], position_ids[r, span], example[r, span] = prompt.cpu(), torch.arange(n), b
            last_prompt = r * width + column + n - 1
            keep[r, column + n - 1] = True
            column += n
            for k, response in enumerate(responses):
                m = len(response)
                span = slice(column, column + m)
                input_ids[r, span], position_ids[r, span] = response.cpu(), torch.arange(n, n + m)
                example[r, span], branch[r, span] = b, k + 1
                keep[r, column : column + m - 1] = True
                start = r * width + column
                predictor[int(first_slot[b]) + k] = [last_prompt, *range(start, start + m - 1)]
                column += m
    same_example = example[:, :, None] == example[:, None, :]
    causal = position_ids[:, None, :] <= position_ids[:, :, None]
    same_branch = (branch[:, None, :] == 0) | (branch[:, None, :] == branch[:, :, None])
    allowed = (same_example & causal & same_branch) | torch.eye(width, dtype=torch.bool)
    attention = torch.zeros(allowed.shape, dtype=mask_dtype).masked_fill(~allowed, torch.finfo(mask_dtype).min)
    kept_index = keep.flatten().long().cumsum(0) - 1  # flat position -> index among kept positions
    resp_len = batch.response_ids.shape[2]
    source = torch.zeros(len(predictor), resp_len, dtype=torch.long)
    for slot, flat in enumerate(predictor):
        source[slot, : len(flat)] = kept_index[torch.tensor(flat, dtype=torch.long)]
    return PackedRows(
        input_ids=input_ids.to(device),
        position_ids=position_ids.to(device),
        attention_mask=attention[:, None].to(device),
        keep=keep.to(device),
        source=source.to(device),
    )
