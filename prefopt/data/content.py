"""Validation of a prompt or response: a non-empty text, or a list of chat messages.

Chat messages are normalised to dicts holding only ``role`` and ``content`` (both non-empty strings), kept in
tuples so a normalised example cannot be changed by accident.
"""

from __future__ import annotations

from collections.abc import Mapping

from prefopt.data.errors import EMPTY_TEXT, MISSING_FIELD, NOT_UTF8, WRONG_TYPE, PreferenceDataError


def prompt_content(value: object, field: str) -> str | tuple[dict, ...]:
    """The prompt as a non-empty string or a non-empty tuple of messages."""
    if isinstance(value, str):
        return _text(value, field)
    if isinstance(value, list | tuple):
        return _messages(value, field)
    raise _wrong_type(value, field, "text or a list of chat messages")


def response_content(value: object, field: str, *, chat: bool) -> str | tuple[dict, ...]:
    """A response, matching its prompt's kind.

    With a text prompt (``chat=False``) the response must be text. With a chat prompt it may be a list of
    messages, one message, or a text, which becomes one assistant message.
    """
    if not chat:
        if isinstance(value, str):
            return _text(value, field)
        raise _wrong_type(value, field, "text, as the prompt is text")
    if isinstance(value, str):
        return ({"role": "assistant", "content": _text(value, field)},)
    if isinstance(value, Mapping):
        return _messages([value], field)
    if isinstance(value, list | tuple):
        return _messages(value, field)
    raise _wrong_type(value, field, "text, a chat message or a list of chat messages")


def _text(value: str, field: str) -> str:
    if not value.strip():
        raise PreferenceDataError("is empty", reason=EMPTY_TEXT, field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate, e.g. from the JSON escape "\ud800"
        raise PreferenceDataError(
            f"is not valid Unicode: lone surrogate {value[error.start]!r} at character {error.start + 1}",
            reason=NOT_UTF8,
            field=field,
        ) from None
    return value


def _messages(value: list | tuple, field: str) -> tuple[dict, ...]:
    if not value:
        raise PreferenceDataError("is an empty list of messages", reason=EMPTY_TEXT, field=field)
    messages = []
    for i, message in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(message, Mapping):
            raise _wrong_type(message, where, "a chat message {'role': ..., 'content': ...}")
        for key in ("role", "content"):
            if message.get(key) is None:
                raise PreferenceDataError(f"has no '{key}'", reason=MISSING_FIELD, field=where)
            if not isinstance(message[key], str):
                raise _wrong_type(message[key], f"{where}.{key}", "text")
        messages.append(
            {"role": _text(message["role"], f"{where}.role"), "content": _text(message["content"], f"{where}.content")}
        )
    return tuple(messages)


def _wrong_type(value: object, field: str, expected: str) -> PreferenceDataError:
    if value is None:
        return PreferenceDataError("is null", reason=MISSING_FIELD, field=field)
    return PreferenceDataError(f"expected {expected}; got {type(value).__name__}", reason=WRONG_TYPE, field=field)
