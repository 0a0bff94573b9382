"""JSON Lines and JSON files, parsed one record at a time with Python's ``json`` module.

Each record is parsed on its own, so one odd value (a float rank among integers, a text among numbers) never
changes how another record is read: there is no type inference across rows. The readers yield
``(row number, value)`` pairs; a record that cannot be used as it stands comes as a :class:`PreferenceDataError`
in place of its value, so that skip mode can go on with the next one: a JSON Lines line that is not UTF-8 or not
JSON, a record that gives a key twice (JSON would keep the last value silently), a record over
``max_record_bytes`` (a JSON Lines line over it is never held in memory whole). What stops a whole file (a corrupt
gzip stream, a JSON array with a syntax error) raises one naming the file and the line. A gzip stream that ends
early (truncated, or missing only its trailer) raises a :class:`PreferenceDataError` with reason ``"truncated"``
after the rows decoded before the end.

Row numbers: in a JSON Lines file, row N is line N (blank lines are passed over but counted); in a JSON array,
row N is the N-th element. A UTF-8 byte order mark at the start of a file is ignored.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from prefopt.config import DEFAULT_MAX_RECORD_BYTES
from prefopt.data.errors import (
    BAD_JSON,
    DUPLICATE_KEY,
    NOT_UTF8,
    TOO_LARGE,
    TRUNCATED,
    UNREADABLE,
    PreferenceDataError,
)

UTF8_BOM = b"\xef\xbb\xbf"
NumberedRows = Iterator[tuple[int, object]]
_CORRUPT = (OSError, zlib.error)  # gzip raises these for a stream that is not gzip or is damaged
_CHUNK = 1 << 20


def json_lines(path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> NumberedRows:
    """``(line number, value)`` for every non-blank line of a JSON Lines file (gzip-compressed for ``.gz``)."""
    number = 0
    try:
        with _open(path) as handle:
            for number, value in _numbered_lines(handle, max_record_bytes):
                yield number, value
    except EOFError as error:
        raise _truncated(path, number, error) from None
    except _CORRUPT as error:
        raise _unreadable(path, number, error) from None


def json_file(path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> NumberedRows:
    """``(position, record)`` for every element of a JSON array file; a file that is no array is JSON Lines."""
    content, ended_early = _read_whole(path)
    body = content.removeprefix(UTF8_BOM)
    if not body.lstrip().startswith(b"["):
        if ended_early is not None:  # the last line is cut short
            body = body[: body.rfind(b"\n") + 1]
        number = 0
        for number, value in _numbered_lines(io.BytesIO(body), max_record_bytes):
            yield number, value
    else:
        number = yield from _array_elements(path, _decode(path, body), max_record_bytes, ended_early)
    if ended_early is not None:
        raise _truncated(path, number, ended_early)


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _read_whole(path: Path) -> tuple[bytes, EOFError | None]:
    """The file's bytes, and the error that ended a gzip stream early (its bytes up to there), or None."""
    chunks = []
    try:
        with _open(path) as handle:
            while chunk := handle.read1(_CHUNK):  # read1: what came before an error is kept
                chunks.append(chunk)
    except EOFError as error:
        return b"".join(chunks), error
    except _CORRUPT as error:
        raise _unreadable(path, 0, error) from None
    return b"".join(chunks), None


def _decode(path: Path, body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        raise PreferenceDataError(
            f"line {line} is not valid UTF-8 (byte {body[error.start]:#04x})", reason=UNREADABLE, file=str(path)
        ) from None


class _Parser:
    """``json`` parsing that notes the first key given twice within a record (the ``json`` module keeps the
    last value silently)."""

    def __init__(self) -> None:
        self.decoder = json.JSONDecoder(object_pairs_hook=self._mapping)
        self.repeated: str | None = None

    def _mapping(self, pairs: list[tuple[str, object]]) -> dict:
        mapping = dict(pairs)
        if len(mapping) < len(pairs) and self.repeated is None:
            seen = set()
            self.repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        return mapping

    def parse(self, text: str) -> object:
        """The value of the JSON document ``text``."""
        self.repeated = None
        return self.decoder.decode(text)

    def parse_from(self, text: str, start: int) -> tuple[object, int]:
        """The value starting at ``start`` of ``text`` and the index after it."""
        self.repeated = None
        return self.decoder.raw_decode(text, start)

    def repeated_key(self, where: str = "") -> PreferenceDataError | None:
        """The error of a key given twice in the value parsed last, or None."""
        if self.repeated is None:
            return None
        return PreferenceDataError(
            f"gives the key {self.repeated!r} twice{where}; a record takes each key once", reason=DUPLICATE_KEY
        )


def _numbered_lines(handle: BinaryIO, max_record_bytes: int) -> NumberedRows:
    parser = _Parser()
    for number, line in enumerate(_bounded_lines(handle, max_record_bytes), start=1):
        if isinstance(line, int):
            yield number, too_large(line, max_record_bytes)
            continue
        if number == 1:
            line = line.removeprefix(UTF8_BOM)
        if line.strip():
            yield number, _parse_line(line, parser)


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[bytes | int]:
    """Each line of ``handle``, or the size in bytes (line ending aside) of a line over ``limit`` bytes, which is
    never held in memory whole."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n") and (line := handle.readline(_CHUNK)):
            size += len(line)
        yield size - (len(line) - len(line.rstrip(b"\r\n")))


def _parse_line(line: bytes, parser: _Parser) -> object:
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
        value = parser.parse(text)
    except json.JSONDecodeError as error:
        return PreferenceDataError(f"is not valid JSON: {error.msg} at column {error.colno}", reason=BAD_JSON)
    except (ValueError, RecursionError) as error:  # an integer too long to convert; nesting too deep
        return PreferenceDataError(f"cannot be parsed as JSON: {error}", reason=BAD_JSON)
    return parser.repeated_key() or value


def _array_elements(path: Path, text: str, max_record_bytes: int, ended_early: EOFError | None):
    """Yield ``(position, element)`` of the JSON array ``text``, each parsed on its own; return the last position.

    A syntax error raises for the whole file, unless the gzip stream ``ended_early`` (the array is then cut short
    there, and the caller reports the truncation).
    """
    parser = _Parser()
    index, line, counted = _skip_space(text, text.index("[") + 1), 1, 0
    position = 0
    while index < len(text) and text[index] != "]":
        start = index
        line += text.count("\n", counted, start)
        counted = start
        try:
            value, index = parser.parse_from(text, start)
        except json.JSONDecodeError as error:
            if ended_early is not None:
                return position
            raise _syntax_error(path, error.msg, text, error.pos) from None
        except (ValueError, RecursionError) as error:  # an integer too long to convert; nesting too deep
            raise PreferenceDataError(f"cannot be parsed as JSON: {error}", reason=UNREADABLE, file=str(path)) from None
        position += 1
        size = len(text[start:index].encode("utf-8")) if (index - start) * 4 > max_record_bytes else 0
        if size > max_record_bytes:
            yield position, too_large(size, max_record_bytes)
        else:
            yield position, parser.repeated_key(f" (the record at line {line})") or value
        index = _skip_space(text, index)
        if index < len(text) and text[index] == ",":
            index = _skip_space(text, index + 1)
            if index < len(text) and text[index] == "]":
                raise _syntax_error(path, "Expecting value", text, index)
        elif index < len(text) and text[index] != "]":
            raise _syntax_error(path, "Expecting ',' delimiter", text, index)
    if index >= len(text):
        if ended_early is None:
            raise _syntax_error(path, "Expecting ',' delimiter", text, index)
    elif _skip_space(text, index + 1) < len(text):
        raise _syntax_error(path, "Extra data", text, _skip_space(text, index + 1))
    return position


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _syntax_error(path: Path, message: str, text: str, position: int) -> PreferenceDataError:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return PreferenceDataError(
        f"is not valid JSON: {message} at line {line}, column {column}", reason=UNREADABLE, file=str(path)
    )


def too_large(size: int, limit: int) -> PreferenceDataError:
    """The error of a record of ``size`` bytes over the ``limit``."""
    return PreferenceDataError(
        f"is {size:,} bytes, over the {limit:,} bytes a record may have (data.max_record_bytes)", reason=TOO_LARGE
    )


def _truncated(path: Path, last_row: int, error: EOFError) -> PreferenceDataError:
    return PreferenceDataError(
        f"is truncated after row {last_row}: the gzip stream ends early ({error})", reason=TRUNCATED, file=str(path)
    )


def _unreadable(path: Path, last_line: int, error: Exception) -> PreferenceDataError:
    where = f" after line {last_line}" if last_line else ""
    return PreferenceDataError(f"cannot be read{where}: {error}", reason=UNREADABLE, file=str(path))
