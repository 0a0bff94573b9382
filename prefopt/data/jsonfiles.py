"""JSON Lines and JSON files, parsed one record at a time with Python's ``json`` module.

Each record is parsed on its own, so one odd value (a float rank among integers, a text among numbers) never
changes how another record is read: there is no type inference across rows. The readers yield
``(row number, value)`` pairs; a JSON Lines line that is not UTF-8 or not JSON comes as a
:class:`PreferenceDataError` in place of its value, so that skip mode can go on with the next line. What stops a
whole file (a corrupt or truncated gzip stream, a JSON array with a syntax error) raises one naming the file and
the line.

Row numbers: in a JSON Lines file, row N is line N (blank lines are passed over but counted); in a JSON array,
row N is the N-th element. A UTF-8 byte order mark at the start of a file is ignored.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from prefopt.data.errors import BAD_JSON, NOT_UTF8, UNREADABLE, PreferenceDataError

UTF8_BOM = b"\xef\xbb\xbf"
NumberedRows = Iterator[tuple[int, object]]
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip raises all three for corrupt or truncated streams


def json_lines(path: Path) -> NumberedRows:
    """``(line number, value)`` for every non-blank line of a JSON Lines file (gzip-compressed for ``.gz``)."""
    number = 0
    try:
        with _open(path) as handle:
            for number, value in _numbered_lines(handle):
                yield number, value
    except _READ_ERRORS as error:
        raise _unreadable(path, number, error) from None


def json_file(path: Path) -> NumberedRows:
    """``(position, record)`` for every element of a JSON array file; a file that is no array is JSON Lines."""
    try:
        with _open(path) as handle:
            content = handle.read()
    except _READ_ERRORS as error:
        raise _unreadable(path, 0, error) from None
    body = content.removeprefix(UTF8_BOM)
    if not body.lstrip().startswith(b"["):
        yield from _numbered_lines(io.BytesIO(body))
        return
    try:
        records = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        raise PreferenceDataError(
            f"line {line} is not valid UTF-8 (byte {body[error.start]:#04x})", reason=UNREADABLE, file=str(path)
        ) from None
    except json.JSONDecodeError as error:
        raise PreferenceDataError(
            f"is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
            reason=UNREADABLE,
            file=str(path),
        ) from None
    except (ValueError, RecursionError) as error:  # an integer too long to convert; nesting too deep
        raise PreferenceDataError(f"cannot be parsed as JSON: {error}", reason=UNREADABLE, file=str(path)) from None
    yield from enumerate(records, start=1)


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _numbered_lines(lines: Iterable[bytes]) -> NumberedRows:
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix(UTF8_BOM)
        if line.strip():
            yield number, _parse_line(line)


def _parse_line(line: bytes) -> object:
    """The value of one JSON Lines line, or the :class:`PreferenceDataError` saying why there is none."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        return PreferenceDataError(
            f"is not valid UTF-8: byte {line[error.start]:#04x} at byte {error.start + 1} of the line "
            "(files must be UTF-8)",
            reason=NOT_UTF8,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return PreferenceDataError(f"is not valid JSON: {error.msg} at column {error.colno}", reason=BAD_JSON)
    except (ValueError, RecursionError) as error:  # an integer too long to convert; nesting too deep
        return PreferenceDataError(f"cannot be parsed as JSON: {error}", reason=BAD_JSON)


def _unreadable(path: Path, last_line: int, error: Exception) -> PreferenceDataError:
    where = f" after line {last_line}" if last_line else ""
    return PreferenceDataError(f"cannot be read{where}: {error}", reason=UNREADABLE, file=str(path))
