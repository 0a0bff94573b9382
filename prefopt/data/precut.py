"""Cut texts longer than truncation could ever keep before tokenising them, so that a huge record costs time and
memory in proportion to what is kept, not to its size.

Truncation (:mod:`prefopt.data.truncate`) keeps at most ``max_length`` tokens of a prompt or a response: a cut
prompt its end (``keep_end``) or start (``keep_start``), a cut response its start. A text of more than
``CHARS_PER_TOKEN * (max_length + MARGIN)`` characters is cut to that many characters on the side truncation
drops, and the cut is kept only if the piece still tokenises to ``max_length + MARGIN`` tokens or more (else
twice as many characters are tried, up to the whole text). The example is then over ``max_length`` either way,
and the ``max_length`` tokens truncation keeps lie ``MARGIN`` tokens or more away from the cut, where tokenising
the piece gives the tokens of the whole text (for a tokenizer whose tokens depend on nearby text only, as BPE,
WordPiece and Unigram tokens do). Chat examples are left whole.
"""

from __future__ import annotations

import operator
from dataclasses import replace

from prefopt.types import RankedExample

CHARS_PER_TOKEN = 16  # a first guess, generous for text; tokenising the piece checks it
MARGIN = 16  # tokens between the cut and the tokens truncation keeps


def cut_long_texts(example: RankedExample, tokenizer, *, max_length: int, keep: str) -> RankedExample:
    """``example`` with each text longer than truncation could keep cut as the module docstring describes;
    ``example`` itself when nothing is cut. ``keep`` is the prompt's truncation (``keep_end``/``keep_start``)."""
    if not isinstance(example.prompt, str):
        return example
    prompt = _cut(example.prompt, tokenizer, max_length, keep_start=keep == "keep_start")
    responses = tuple(_cut(response, tokenizer, max_length, keep_start=True) for response in example.responses)
    if prompt is example.prompt and all(map(operator.is_, responses, example.responses)):
        return example
    return replace(example, prompt=prompt, responses=responses)


def _cut(text: str, tokenizer, max_length: int, *, keep_start: bool) -> str:
    """The start (``keep_start``) or end of ``text`` holding ``max_length + MARGIN`` tokens or more; ``text`` itself
    when it is not that much longer."""
    needed = max_length + MARGIN
    chars = CHARS_PER_TOKEN * needed
    while chars < len(text):
        piece = text[:chars] if keep_start else text[-chars:]
        if len(tokenizer(piece, add_special_tokens=False)["input_ids"]) >= needed:
            return piece
        chars *= 2
    return text
