"""Token ids of one example's prompt and responses, before truncation.

Text examples are tokenised as ``prompt`` and ``prompt + response``; chat examples are first rendered with the
tokenizer's chat template (the prompt with ``add_generation_prompt=True``, prompt and response as the whole
conversation). A response's ids are the full sequence's ids after the prompt's, so that prompt + response ids
are exactly the tokenisation of the full text. Where a merge across the boundary makes the full ids not start
with the prompt ids, the response text is tokenised on its own instead and the response is counted as a
boundary mismatch. A finished response ends with EOS (appended unless the rendering already ends with it); a
response cut before it ended (``finished`` false, e.g. a sample stopped by its token limit) does not, so its ids
are the tokens that were sampled. A cut chat response is rendered as the sampler saw it: the prompt with its
generation prompt, then the response's text, without the template's end of turn.

Special tokens: the tokenizer's leading special tokens (e.g. BOS) are put before the prompt unless the text
already starts with them (chat templates often write BOS themselves), so BOS is never doubled; trailing special
tokens that a tokenizer appends to every text are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prefopt.data.errors import CHAT_TEMPLATE, PreferenceDataError
from prefopt.types import RankedExample


@dataclass
class Encoded:
    """Untruncated ids of one example: ``prompt`` and one list per response (ending with EOS if it finished)."""

    prompt: list[int]
    responses: list[list[int]]
    boundary_mismatches: int


def special_prefix(tokenizer) -> list[int]:
    """The ids a tokenizer puts before every text when adding special tokens (e.g. ``[bos_token_id]``)."""
    marked = tokenizer("x", add_special_tokens=True)["input_ids"]
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    for start in range(len(marked) - len(plain) + 1):
        if marked[start : start + len(plain)] == plain:
            return marked[:start]
    return []


def encode_examples(examples: Sequence[RankedExample], tokenizer, prefix: list[int]) -> list[Encoded]:
    """Encode ``examples`` with two batched tokenizer calls (plus one for any boundary mismatches)."""
    rendered = [_render(example, tokenizer) for example in examples]
    texts = [text for prompt, fulls, _ in rendered for text in (prompt, *fulls)]
    ids = iter(tokenizer(texts, add_special_tokens=False)["input_ids"])
    encoded, apart = [], []
    for e, (_, fulls, pieces) in enumerate(rendered):
        prompt = _with_prefix(next(ids), prefix)
        responses = []
        for k in range(len(fulls)):
            full = _with_prefix(next(ids), prefix)
            if len(full) > len(prompt) and full[: len(prompt)] == prompt:
                responses.append(full[len(prompt) :])
            else:
                responses.append(None)
                apart.append((e, k, pieces[k]))
        encoded.append(Encoded(prompt, responses, boundary_mismatches=0))
    if apart:
        separate = tokenizer([piece for _, _, piece in apart], add_special_tokens=False)["input_ids"]
        for (e, k, _), response in zip(apart, separate, strict=True):
            encoded[e].responses[k] = response
            encoded[e].boundary_mismatches += 1
    eos = tokenizer.eos_token_id
    for example, item in zip(examples, encoded, strict=True):
        item.responses = [
            r if not finished or (r and r[-1] == eos) else [*r, eos]
            for r, finished in zip(item.responses, _response_ends(example), strict=True)
        ]
    return encoded


def _response_ends(example: RankedExample) -> tuple[bool, ...]:
    """Whether each response of ``example`` ended (and so is encoded with EOS); all do without ``finished``."""
    return example.finished if example.finished is not None else (True,) * len(example.responses)


def _with_prefix(ids: list[int], prefix: list[int]) -> list[int]:
    return ids if ids[: len(prefix)] == prefix else prefix + ids


def _render(example: RankedExample, tokenizer) -> tuple[str, list[str], list[str]]:
    """(prompt text, prompt + response texts, response texts) of ``example``."""
    if isinstance(example.prompt, str):
        return example.prompt, [example.prompt + r for r in example.responses], list(example.responses)
    if not getattr(tokenizer, "chat_template", None):
        raise PreferenceDataError(
            "is a list of chat messages, but the tokenizer has no chat template to render it",
            reason=CHAT_TEMPLATE,
            field="prompt",
            source=example.source,
        )
    messages = list(example.prompt)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    fulls = []
    for k, (response, finished) in enumerate(zip(example.responses, _response_ends(example), strict=True)):
        if not finished:  # one assistant message (checked when read), cut where sampling stopped
            fulls.append(prompt + response[0]["content"])
            continue
        full = tokenizer.apply_chat_template(messages + list(response), tokenize=False)
        if not full.startswith(prompt):
            raise PreferenceDataError(
                "the chat template renders the prompt differently when this response follows it, so the "
                "response cannot be separated from the prompt",
                reason=CHAT_TEMPLATE,
                field=f"responses[{k}]",
                source=example.source,
            )
        fulls.append(full)
    return prompt, fulls, [full[len(prompt) :] for full in fulls]
