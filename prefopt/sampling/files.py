"""The files of ``prefopt sample``: prompts in (JSON Lines rows with a ``prompt``), samples out (written atomically)."""

from __future__ import annotations

from pathlib import Path

from prefopt.data.errors import BAD_JSON, EMPTY_TEXT, MISSING_FIELD, NO_EXAMPLES, WRONG_TYPE, PreferenceDataError
from prefopt.data.jsonfiles import json_lines


def read_prompt_rows(path: Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` of every row of a JSON Lines file (``.gz`` too) whose ``prompt`` is a non-empty text
    or list of chat messages. Other keys are not looked at, so a preference file serves as well.

    Raises:
        PreferenceDataError: naming the file, the 1-based line and the field of the first bad row.
    """
    rows = []
    for number, row in json_lines(path):
        where = {"file": str(path), "row": number}
        if isinstance(row, PreferenceDataError):
            raise PreferenceDataError(row.message, reason=row.reason, **where)
        if not isinstance(row, dict):
            raise PreferenceDataError("is not a JSON object", reason=BAD_JSON, **where)
        if "prompt" not in row:
            raise PreferenceDataError("is missing", reason=MISSING_FIELD, field="prompt", **where)
        prompt = row["prompt"]
        if not isinstance(prompt, (str, list)):
            raise PreferenceDataError(
                "must be a text or a list of chat messages", reason=WRONG_TYPE, field="prompt", **where
            )
        if not prompt:
            raise PreferenceDataError("is empty", reason=EMPTY_TEXT, field="prompt", **where)
        rows.append((number, row))
    if not rows:
        raise PreferenceDataError("holds no rows", reason=NO_EXAMPLES, file=str(path))
    return rows


def read_prompts(path: Path) -> list[str | list]:
    """The ``prompt`` of every row of ``path`` (see :func:`read_prompt_rows`)."""
    return [row["prompt"] for _, row in read_prompt_rows(path)]
