"""Files written whole or not at all: to a temporary name beside the target, then renamed over it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replacing(path: Path) -> Iterator[IO[str]]:
    """A text handle on a temporary file beside ``path`` that replaces ``path`` when the block ends without an
    exception; on an exception the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with replacing(path) as out:
        out.write(text)


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON."""
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """``rows`` as JSON Lines, one object per line."""
    with replacing(path) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
