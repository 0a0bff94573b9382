"""Supervised fine-tuning on review text, the paper's first stage: its result is pi_ref (App. C.1).

Next-token cross-entropy on reviews (BOS, if the tokenizer adds one, then the first ``max_tokens`` tokens, then
EOS if the review ended within them: a review cut by the window does not end in EOS, as a sample cut at
``max_new_tokens`` does not), AdamW, a fixed number of steps over a seeded shuffle. The model is saved with its
tokenizer, written to a temporary directory and renamed.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch
from tqdm.auto import tqdm

from prefopt.data.encode import special_prefix


def review_batches(reviews: list[str], tokenizer, max_tokens: int, batch_size: int, steps: int, seed: int):
    """``steps`` batches: ids (B, L) right-padded, labels (B, L) with -100 on padding. A row is the review's first
    ``max_tokens`` tokens after the special prefix, and EOS when the review has no more tokens."""
    prefix, eos = special_prefix(tokenizer), [tokenizer.eos_token_id]
    rows = [
        prefix + ids[:max_tokens] + (eos if len(ids) <= max_tokens else [])
        for ids in tokenizer(reviews, add_special_tokens=False)["input_ids"]
    ]
    order = list(range(len(rows)))
    rng = random.Random(seed)
    rng.shuffle(order)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for step in range(steps):
        chosen = [rows[order[(step * batch_size + i) % len(rows)]] for i in range(batch_size)]
        width = max(len(r) for r in chosen)
        ids = torch.full((batch_size, width), pad, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        for i, row in enumerate(chosen):
            ids[i, : len(row)] = labels[i, : len(row)] = torch.tensor(row)
        yield ids, labels


def supervised_finetune(model, tokenizer, reviews: list[str], out: Path, *, size, seed: int, progress: bool) -> float:
    """Train ``model`` in place on ``reviews`` and save it to ``out``; returns the mean loss of the last quarter
    of the steps."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.sft_lr)
    model.train()
    losses = []
    batches = review_batches(reviews, tokenizer, size.sft_tokens, size.sft_batch_size, size.sft_steps, seed)
    device = next(model.parameters()).device
    for ids, labels in tqdm(batches, total=size.sft_steps, disable=not progress, desc="sft"):
        ids, labels = ids.to(device), labels.to(device)
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    model.eval()
    partial = out.with_name(out.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    tail = losses[-max(1, len(losses) // 4) :]
    return sum(tail) / len(tail)
