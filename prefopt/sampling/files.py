"""The files of ``prefopt sample``: prompts in (JSON Lines rows with a ``prompt``), samples out (written atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
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


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Write ``rows`` as JSON Lines to a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
