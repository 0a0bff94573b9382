"""Anthropic HH-RLHF rows: two full dialogues, ``chosen`` and ``rejected``, with no separate prompt.

The prompt is the shared dialogue up to and including the last ``"\\n\\nAssistant:"``; the responses are what
follows it in each dialogue (Bai et al. 2022, arXiv 2204.05862). The same split applies to dialogues given as
chat-message lists: the prompt is every message before the final assistant message.
"""

from __future__ import annotations

from prefopt.data.errors import NO_SHARED_PROMPT, WRONG_TYPE, PreferenceDataError

ASSISTANT_TURN = "\n\nAssistant:"


def split_dialogues(chosen: object, rejected: object) -> tuple[object, object, object]:
    """(prompt, chosen response, rejected response) of one HH-style row.

    Both dialogues must be strings, or both lists of messages. Raises :class:`PreferenceDataError` when a
    dialogue has no assistant turn or when the two do not share the prompt (reason ``"no_shared_prompt"``).
    """
    if isinstance(chosen, str) and isinstance(rejected, str):
        return _split_text(chosen, rejected)
    if isinstance(chosen, list) and isinstance(rejected, list):
        return _split_messages(chosen, rejected)
    raise PreferenceDataError(
        f"expected both dialogues as text or both as message lists; got {type(chosen).__name__} and "
        f"{type(rejected).__name__}",
        reason=WRONG_TYPE,
        field="rejected",
    )


def _split_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    prompts = []
    for name, dialogue in (("chosen", chosen), ("rejected", rejected)):
        end = dialogue.rfind(ASSISTANT_TURN)
        if end < 0:
            raise PreferenceDataError(
                f"has no {ASSISTANT_TURN!r} turn to split the prompt from the response (a row with chosen and "
                "rejected but no prompt is read as HH-RLHF dialogues)",
                reason=NO_SHARED_PROMPT,
                field=name,
            )
        prompts.append(dialogue[: end + len(ASSISTANT_TURN)])
    if prompts[0] != prompts[1]:
        raise PreferenceDataError(
            f"does not share the prompt with 'chosen' (the dialogues differ before the last {ASSISTANT_TURN!r})",
            reason=NO_SHARED_PROMPT,
            field="rejected",
        )
    cut = len(prompts[0])
    return prompts[0], chosen[cut:], rejected[cut:]


def _split_messages(chosen: list, rejected: list) -> tuple[list, list, list]:
    for name, dialogue in (("chosen", chosen), ("rejected", rejected)):
        last = dialogue[-1] if dialogue else None
        if not isinstance(last, dict) or last.get("role") != "assistant":
            raise PreferenceDataError(
                "must end with an assistant message (the response)", reason=NO_SHARED_PROMPT, field=name
            )
    if chosen[:-1] != rejected[:-1]:
        raise PreferenceDataError(
            "does not share the prompt with 'chosen' (the messages before the final assistant message differ)",
            reason=NO_SHARED_PROMPT,
            field="rejected",
        )
    return chosen[:-1], chosen[-1:], rejected[-1:]
