"""IMDb reviews (Maas et al. 2011) as the experiment's text: SFT documents and 2-8 token review prefixes.

Reads ``train.jsonl.gz`` and ``test.jsonl.gz`` of a directory whose rows have a ``text`` (the reviews keep their
``<br />`` tags, which become spaces). Training prefixes and SFT reviews come from the train split, held-out
prefixes from the test split, each a seeded shuffle.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from prefopt.data.errors import MISSING_FIELD, NO_EXAMPLES, WRONG_TYPE, PreferenceDataError
from prefopt.data.jsonfiles import json_lines

SPLITS = ("train.jsonl.gz", "test.jsonl.gz")
PREFIX_TOKENS = (2, 8)  # the DPO paper's prefix lengths (App. C.1)
_TAGS = re.compile(r"<br\s*/?>")


def read_reviews(path: Path, needed: int, seed: int) -> list[str]:
    """``needed`` review texts of one split file, in a seeded random order, tags replaced by spaces.

    Raises:
        PreferenceDataError: a row without a text ``text`` (file, row, field), or fewer rows than ``needed``.
    """
    texts = []
    for number, row in json_lines(path):
        where = {"file": str(path), "row": number, "field": "text"}
        if not isinstance(row, dict) or "text" not in row:
            raise PreferenceDataError("is missing", reason=MISSING_FIELD, **where)
        if not isinstance(row["text"], str) or not row["text"].strip():
            raise PreferenceDataError("must be a non-empty text", reason=WRONG_TYPE, **where)
        texts.append(" ".join(_TAGS.sub(" ", row["text"]).split()))
    if len(texts) < needed:
        raise PreferenceDataError(
            f"has {len(texts)} reviews, fewer than the {needed} needed", reason=NO_EXAMPLES, file=str(path)
        )
    random.Random(seed).shuffle(texts)
    return texts[:needed]


def prefixes(reviews: list[str], tokenizer, seed: int) -> list[str]:
    """The first n tokens of each review as text, n uniform in 2..8 (seeded); shorter reviews give all theirs."""
    rng = random.Random(seed)
    ids = tokenizer(reviews, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(row[: rng.randint(*PREFIX_TOKENS)]).rstrip() or tokenizer.decode(row) for row in ids]


def imdb_files(directory: Path) -> tuple[Path, Path]:
    """The train and test split files of ``directory``.

    Raises:
        FileNotFoundError: naming the missing file.
    """
    files = tuple(directory / name for name in SPLITS)
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such IMDb split (expected {', '.join(SPLITS)} in {directory})")
    return files


def imdb_text(directory: Path, train_prompts: int, eval_prompts: int, sft_reviews: int, tokenizer, seed: int):
    """(SFT reviews, training prefixes, held-out prefixes) from ``directory``; training prefixes and SFT reviews
    are different reviews of the train split."""
    train_file, test_file = imdb_files(directory)
    train = read_reviews(train_file, sft_reviews + train_prompts, seed)
    held_out = read_reviews(test_file, eval_prompts, seed)
    return train[:sft_reviews], prefixes(train[sft_reviews:], tokenizer, seed), prefixes(held_out, tokenizer, seed + 1)
