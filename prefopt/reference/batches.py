"""The fixed batches reference log-probs are computed in, shared by the cache build and held-out evaluation.

A forward pass over a padded batch can differ in the last bits from a pass over another batch composition, so
the reference cache and the held-out evaluation take the examples in the same batches: then, before training, the
policy reproduces the cached reference log-probs bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prefopt.data.batch import TokenizedExample


def unique_examples(examples: Iterable[TokenizedExample]) -> dict[str, TokenizedExample]:
    """Examples by key, sorted by key. A key seen twice with different token ids raises ``ValueError``."""
    by_key: dict[str, TokenizedExample] = {}
    for example in examples:
        seen = by_key.setdefault(example.key, example)
        if (seen.prompt_ids, seen.response_ids) != (example.prompt_ids, example.response_ids):
            raise ValueError(f"two examples share the key {example.key!r} but differ in their token ids")
    return dict(sorted(by_key.items()))


def reference_batches(examples: Sequence[TokenizedExample], batch_size: int) -> list[list[TokenizedExample]]:
    """The fixed batches a cache is computed from: unique examples, longest first (prompt plus longest
    response, then number of responses), ties by key, cut into groups of ``batch_size``.

    Padding can change float results in the last bits, so a live :func:`sequence_logprobs` over these same
    batches reproduces the cached values bit for bit; other batch compositions agree up to rounding.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    def longest_first(e: TokenizedExample) -> tuple[int, int, str]:
        return -len(e.prompt_ids) - max(map(len, e.response_ids)), -len(e.response_ids), e.key

    ordered = sorted(unique_examples(examples).values(), key=longest_first)
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
