"""The truncation policy, after the DPO authors' (Rafailov et al. 2023, reference implementation).

An example fits when its prompt plus its longest response has at most ``max_length`` tokens; a fitting example
is left whole. Otherwise:
1. the prompt is cut to ``max_prompt_length`` tokens, keeping its end (the most recent context,
   ``keep="keep_end"``) or its start (``keep="keep_start"``); leading special tokens such as BOS stay;
2. each response longer than what is left of ``max_length`` loses its end (and so its EOS: it did not end).
"""

from __future__ import annotations

KEEP = ("keep_end", "keep_start")


def fits(prompt: list[int], responses: list[list[int]], max_length: int) -> bool:
    """Whether prompt plus the longest response has at most ``max_length`` tokens."""
    return len(prompt) + max(map(len, responses)) <= max_length


def truncate(
    prompt: list[int],
    responses: list[list[int]],
    *,
    max_length: int,
    max_prompt_length: int,
    keep: str,
    prefix: list[int],
) -> tuple[list[int], list[list[int]]]:
    """(prompt, responses) cut to ``max_length`` as the module docstring describes.

    ``prefix`` holds the special tokens kept at the prompt's start when present (shorter than
    ``max_prompt_length``).
    """
    if fits(prompt, responses, max_length):
        return prompt, responses
    if len(prompt) > max_prompt_length:
        head = prefix if prompt[: len(prefix)] == prefix else []
        body, room = prompt[len(head) :], max_prompt_length - len(head)
        prompt = head + (body[-room:] if keep == "keep_end" else body[:room])
    budget = max_length - len(prompt)
    return prompt, [response[:budget] for response in responses]
