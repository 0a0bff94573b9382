"""What ``prefopt sample`` warns about: completions that training cannot use or that did not end."""

from __future__ import annotations

from collections.abc import Sequence

from prefopt.sampling.generate import PromptSamples


def count_empty(texts: Sequence[str]) -> int:
    """How many of ``texts`` hold nothing but whitespace (which training refuses as an empty response)."""
    return sum(not text.strip() for text in texts)


def sampling_warnings(samples: Sequence[PromptSamples], max_new_tokens: int) -> list[str]:
    """One line per problem of ``samples``, with counts: empty completions, completions cut at ``max_new_tokens``."""
    texts = [text for sample in samples for text in sample.completions]
    empty = count_empty(texts)
    cut = sum(not finished for sample in samples for finished in sample.finished)
    lines = []
    if empty:
        lines.append(
            f"{empty} of {len(texts)} completions are empty (the model stopped at once or wrote only special "
            "tokens); prefopt train refuses a row with an empty response (data.on_error=skip skips the row)"
        )
    if cut:
        lines.append(
            f"{cut} of {len(texts)} completions were cut at --max-new-tokens {max_new_tokens} before the model "
            "stopped; they are written with finished false and trained without EOS"
        )
    return lines
