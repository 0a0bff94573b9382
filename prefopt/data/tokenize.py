"""Tokenise ranked examples for the engine, with a recorded truncation policy.

See :mod:`prefopt.data.encode` for how prompt and response ids are taken (chat templates, BOS, EOS, token
boundaries), :mod:`prefopt.data.truncate` for the truncation policy and :mod:`prefopt.data.precut` for texts cut
before tokenising because truncation could never keep all of them. Nothing is cut or dropped silently: the
:class:`TokenizeReport` counts it all.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from prefopt.data.batch import TokenizedExample
from prefopt.data.encode import encode_examples, special_prefix
from prefopt.data.errors import NO_EXAMPLES, PreferenceDataError
from prefopt.data.keys import example_key
from prefopt.data.precut import cut_long_texts
from prefopt.data.truncate import KEEP, fits, truncate
from prefopt.types import RankedExample

ON_OVERFLOW = ("truncate", "drop")
CHUNK = 1024  # examples per batched tokenizer call
PROGRESS_FROM = 2000  # show a progress bar (on a terminal) from this many examples

# reasons for dropping an example
TOO_LONG = "too_long"
IDENTICAL_TOKENS = "identical_tokens"


@dataclass
class TokenizeReport:
    """What tokenisation kept, cut and dropped.

    Attributes:
        examples: examples given.
        kept: examples returned.
        truncated_prompts: returned examples whose prompt was cut.
        truncated_responses: returned examples with at least one response cut.
        cut_before_tokenizing: examples with a text so long that it was cut before tokenising (giving the ids
            truncation keeps of the whole text, see :mod:`prefopt.data.precut`).
        dropped: dropped examples per reason: ``too_long`` (over ``max_length`` with ``on_overflow="drop"``),
            ``identical_tokens`` (responses with the same ids after tokenisation and truncation that are ranked
            differently, which contradicts itself, or that leave fewer than two ranks).
        merged_duplicates: tied responses left with identical ids, kept once (the example keeps its other
            preferences).
        boundary_mismatches: responses tokenised apart from their prompt because tokenising prompt + response
            merged tokens across the boundary.
    """

    examples: int = 0
    kept: int = 0
    truncated_prompts: int = 0
    truncated_responses: int = 0
    cut_before_tokenizing: int = 0
    dropped: Counter = field(default_factory=Counter)
    merged_duplicates: int = 0
    boundary_mismatches: int = 0

    def summary(self) -> str:
        """One human-readable line per fact."""
        lines = [f"tokenized {self.examples} examples; kept {self.kept}"]
        if self.truncated_prompts or self.truncated_responses:
            lines.append(
                f"truncated the prompt of {self.truncated_prompts} and responses of {self.truncated_responses} examples"
            )
        if self.cut_before_tokenizing:
            lines.append(
                f"cut the texts of {self.cut_before_tokenizing} examples before tokenising: longer than truncation keeps"
            )
        if self.dropped:
            reasons = ", ".join(f"{reason} {count}" for reason, count in self.dropped.most_common())
            lines.append(f"dropped {sum(self.dropped.values())} examples ({reasons})")
        if self.merged_duplicates:
            lines.append(f"merged {self.merged_duplicates} tied responses whose tokens became identical")
        if self.boundary_mismatches:
            lines.append(
                f"{self.boundary_mismatches} responses tokenised apart from their prompt (tokens merge across the boundary)"
            )
        return "\n".join(lines)

    def check_kept(self, part: str, *, required: bool) -> None:
        """Raise (``required``) or warn when tokenising dropped every example of ``part`` (e.g. ``"train"``).

        Raises :class:`PreferenceDataError` (reason ``"no_examples"``) for a required part; a part that is not
        required (held-out examples) gets a ``UserWarning``.
        """
        if self.kept or not self.examples:
            return
        reasons = ", ".join(f"{reason} {count}" for reason, count in self.dropped.most_common())
        message = f"tokenising dropped all {self.examples} {part} examples ({reasons})"
        if required:
            raise PreferenceDataError(f"{message}; nothing is left to use", reason=NO_EXAMPLES)
        warnings.warn(f"{message}; metrics on them are not computed", UserWarning, stacklevel=2)


def tokenize_examples(
    examples: Sequence[RankedExample],
    tokenizer,
    *,
    max_length: int,
    max_prompt_length: int,
    truncation: str = "keep_end",
    on_overflow: str = "truncate",
) -> tuple[list[TokenizedExample], TokenizeReport]:
    """Tokenise ``examples`` into :class:`TokenizedExample` s (prompt ids, K response ids, each ending in EOS
    if it finished).

    Args:
        examples: normalised examples (e.g. from :func:`load_preferences`).
        tokenizer: a Hugging Face tokenizer (a fast one tokenises in batches); it needs an EOS token, and a chat
            template for chat-message examples.
        max_length: most tokens of prompt plus longest response.
        max_prompt_length: the length a prompt is cut to when an example is too long.
        truncation: ``"keep_end"`` keeps the end of a cut prompt (the most recent context), ``"keep_start"``
            its start. Responses always keep their start.
        on_overflow: ``"truncate"`` cuts examples over ``max_length``; ``"drop"`` leaves them out.

    Raises:
        ValueError: for bad options or a tokenizer without an EOS token.
        PreferenceDataError: for a chat example the tokenizer cannot render, naming the example's source.
    """
    _check_options(tokenizer, max_length, max_prompt_length, truncation, on_overflow)
    prefix = special_prefix(tokenizer)
    if max_prompt_length <= len(prefix):
        raise ValueError(f"max_prompt_length ({max_prompt_length}) leaves no room after the special tokens {prefix}")
    report = TokenizeReport(examples=len(examples))
    tokenized = []
    with tqdm(
        total=len(examples), desc="tokenizing", unit="ex", disable=None if len(examples) >= PROGRESS_FROM else True
    ) as progress:
        for start in range(0, len(examples), CHUNK):
            chunk = examples[start : start + CHUNK]
            cut = [cut_long_texts(example, tokenizer, max_length=max_length, keep=truncation) for example in chunk]
            report.cut_before_tokenizing += sum(map(operator.is_not, cut, chunk))
            for example, encoded in zip(chunk, encode_examples(cut, tokenizer, prefix), strict=True):
                report.boundary_mismatches += encoded.boundary_mismatches
                if on_overflow == "drop" and not fits(encoded.prompt, encoded.responses, max_length):
                    report.dropped[TOO_LONG] += 1
                    continue
                prompt, responses = truncate(
                    encoded.prompt,
                    encoded.responses,
                    max_length=max_length,
                    max_prompt_length=max_prompt_length,
                    keep=truncation,
                    prefix=prefix,
                )
                distinct = _merge_identical(responses, example.ranks)
                if distinct is None:
                    report.dropped[IDENTICAL_TOKENS] += 1
                    continue
                report.merged_duplicates += len(responses) - len(distinct[0])
                report.truncated_prompts += len(prompt) < len(encoded.prompt)
                report.truncated_responses += responses != encoded.responses
                tokenized.append(
                    TokenizedExample(
                        key=example_key(example),
                        prompt_ids=tuple(prompt),
                        response_ids=distinct[0],
                        ranks=distinct[1],
                    )
                )
            progress.update(len(chunk))
    report.kept = len(tokenized)
    return tokenized, report


def _merge_identical(
    responses: list[list[int]], ranks: tuple[int, ...]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]] | None:
    """The responses with tied copies of identical ids kept once, and their ranks; ``None`` when identical
    responses are ranked differently (a contradiction) or fewer than two distinct ranks remain."""
    first_rank: dict[tuple[int, ...], int] = {}
    kept_ids, kept_ranks = [], []
    for ids, rank in zip(map(tuple, responses), ranks, strict=True):
        if ids in first_rank:
            if first_rank[ids] != rank:
                return None
            continue
        first_rank[ids] = rank
        kept_ids.append(ids)
        kept_ranks.append(rank)
    if len(set(kept_ranks)) < 2:
        return None
    return tuple(kept_ids), tuple(kept_ranks)


def _check_options(tokenizer, max_length: int, max_prompt_length: int, truncation: str, on_overflow: str) -> None:
    if getattr(tokenizer, "eos_token_id", None) is None:
        raise ValueError("the tokenizer has no EOS token; set tokenizer.eos_token so responses can end with it")
    if truncation not in KEEP:
        raise ValueError(f"unknown truncation {truncation!r}; expected one of {KEEP}")
    if on_overflow not in ON_OVERFLOW:
        raise ValueError(f"unknown on_overflow {on_overflow!r}; expected one of {ON_OVERFLOW}")
    if not 0 < max_prompt_length < max_length:
        raise ValueError(
            f"need 0 < max_prompt_length < max_length; got max_prompt_length={max_prompt_length}, max_length={max_length}"
        )
