"""A deterministic train / held-out split by example key."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import TypeVar

from prefopt.data.batch import TokenizedExample
from prefopt.data.keys import example_key
from prefopt.types import RankedExample

Example = TypeVar("Example", RankedExample, TokenizedExample)


def split_examples(
    examples: Sequence[Example], eval_fraction: float, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(train, held-out) parts of ``examples``, each in input order.

    The distinct example keys are ordered by a hash of ``seed`` and the key; the first
    ``round(eval_fraction * distinct keys)`` go to the held-out part. Copies of one example share a key, so they
    never straddle the split. The training part always keeps at least one key; with ``0 < eval_fraction`` and at
    least two distinct keys, the held-out part gets at least one too. With ``0 < eval_fraction`` and fewer than two
    distinct keys the held-out part is empty, and a ``UserWarning`` says so. The same examples, fraction and seed
    always give the same split, whatever their order.
    """
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1); got {eval_fraction}")
    keys = [e.key if isinstance(e, TokenizedExample) else example_key(e) for e in examples]
    distinct = sorted(set(keys), key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())
    count = min(round(eval_fraction * len(distinct)), max(len(distinct) - 1, 0))
    if eval_fraction > 0 and len(distinct) >= 2:
        count = max(count, 1)
    elif eval_fraction > 0:
        warnings.warn(
            f"eval_fraction={eval_fraction} holds out no example: the data has {len(distinct)} distinct example(s) "
            "and training needs one; held-out metrics are not computed",
            UserWarning,
            stacklevel=2,
        )
    held_out = set(distinct[:count])
    train = [e for e, key in zip(examples, keys, strict=True) if key not in held_out]
    evaluation = [e for e, key in zip(examples, keys, strict=True) if key in held_out]
    return train, evaluation
