"""Where rows come from: files, datasets passed in code, or records in memory.

Supported files: ``.jsonl``, ``.json`` (a list of records, or JSON Lines), ``.parquet``, ``.csv``, and gzip
compressed ``.jsonl.gz`` / ``.json.gz``. A directory means its supported files (not its subdirectories), sorted by
name. JSON files are parsed record by record (:mod:`prefopt.data.jsonfiles`); Parquet and CSV files are read
locally through ``datasets.load_dataset`` into a temporary cache that is removed after reading, with every CSV
cell read as text. Datasets named by a Hub id, or written by ``save_to_disk``, come as a
:class:`prefopt.data.hub.NamedDataset` (see :mod:`prefopt.data.hub`). A UTF-8 byte order mark at the start of a
text file is ignored.

A record over ``max_record_bytes`` comes as a :class:`PreferenceDataError` (reason ``"too_large"``) in place of
its value: measured on its text in a JSON file (:mod:`prefopt.data.jsonfiles`), elsewhere as the UTF-8 size of
the texts it holds.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import datasets

from prefopt.config import DEFAULT_MAX_RECORD_BYTES
from prefopt.data.errors import UNREADABLE, PreferenceDataError
from prefopt.data.hub import NamedDataset
from prefopt.data.jsonfiles import NumberedRows, json_file, json_lines, too_large

Source = str | os.PathLike | NamedDataset | datasets.Dataset | datasets.DatasetDict | Iterable[Mapping]


@dataclass
class RowSource:
    """One named stream of rows.

    ``read()`` yields ``(row number, row)``: the 1-based line of a JSON Lines file, else the 1-based position.
    A row that could not be parsed comes as the :class:`PreferenceDataError` saying why.
    """

    name: str
    read: Callable[[], NumberedRows]


def supported(path: Path) -> bool:
    """Whether ``path`` has a file-name ending this module reads."""
    return _reader(path) is not None


def open_sources(
    source: Source, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> tuple[list[RowSource], list[str]]:
    """The row streams of ``source`` and the files of a directory that were passed over as unsupported."""
    numbered = partial(_sized_rows, max_record_bytes=max_record_bytes)
    if isinstance(source, NamedDataset):
        return [RowSource(source.name, partial(numbered, source.rows))], []
    if isinstance(source, datasets.DatasetDict):
        splits = sorted(source)
        if len(splits) != 1:
            raise PreferenceDataError(
                f"a DatasetDict with splits {splits} is ambiguous; pass one split, e.g. dataset[{splits[0]!r}]",
                reason=UNREADABLE,
                file="DatasetDict",
            )
        return [RowSource(f"split {splits[0]!r}", partial(numbered, source[splits[0]]))], []
    if isinstance(source, datasets.Dataset):
        return [RowSource("Dataset", partial(numbered, source))], []
    if isinstance(source, str | os.PathLike):
        return _open_path(Path(source), max_record_bytes)
    if isinstance(source, Iterable):
        return [RowSource("records", partial(numbered, source))], []
    raise TypeError(f"cannot read preference data from a {type(source).__name__}")


def _open_path(path: Path, max_record_bytes: int) -> tuple[list[RowSource], list[str]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        usable = [p for p in files if supported(p)]
        if not usable:
            raise PreferenceDataError(f"holds no {', '.join(_READERS)} files", reason=UNREADABLE, file=str(path))
        return [_file_source(p, max_record_bytes) for p in usable], [str(p) for p in files if not supported(p)]
    if not path.is_file():
        raise PreferenceDataError("does not exist", reason=UNREADABLE, file=str(path))
    if not supported(path):
        raise PreferenceDataError(
            f"is not a supported file; expected one of {', '.join(_READERS)}", reason=UNREADABLE, file=str(path)
        )
    return [_file_source(path, max_record_bytes)], []


def _file_source(path: Path, max_record_bytes: int) -> RowSource:
    return RowSource(str(path), partial(_reader(path), path, max_record_bytes))


def _reader(path: Path) -> Callable[[Path, int], NumberedRows] | None:
    name = path.name.lower()
    return next((reader for ending, reader in _READERS.items() if name.endswith(ending)), None)


def _sized_rows(rows: Iterable[Mapping], max_record_bytes: int) -> NumberedRows:
    """``(position, row)``, or the error of a row whose texts are over ``max_record_bytes`` in its place."""
    for number, row in enumerate(rows, start=1):
        size = _text_bytes(row)
        yield number, too_large(size, max_record_bytes) if size > max_record_bytes else row


def _text_bytes(value: object) -> int:
    """The UTF-8 size of the texts within ``value`` (a record, and its lists and mappings)."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, Mapping):
        return sum(map(_text_bytes, value.values()))
    if isinstance(value, list | tuple):
        return sum(map(_text_bytes, value))
    return 0


def _with_datasets(builder: str, path: Path, max_record_bytes: int) -> NumberedRows:
    """The rows of a Parquet or CSV file, read with ``datasets`` when iterated."""
    row = 0
    with tempfile.TemporaryDirectory(prefix="prefopt-read-") as cache:
        try:
            options = _csv_options(path) if builder == "csv" else {}
            dataset = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache, **options)
            for row, record in _sized_rows(dataset, max_record_bytes):
                yield row, record
        except Exception as error:  # datasets and pyarrow raise many kinds; each means the file cannot be read
            cause = error.__cause__ or error
            where = f" after row {row}" if row else ""
            raise PreferenceDataError(
                f"cannot be read as {builder}{where}: {cause}", reason=UNREADABLE, file=str(path)
            ) from error


def _csv_options(path: Path) -> dict:
    """Read every CSV cell as text: no number inference ("007" stays "007"), no "NA"/"null" as missing; a byte
    order mark is not part of the first column's name."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    return {
        "encoding": "utf-8-sig",
        "keep_default_na": False,
        "features": datasets.Features({name: datasets.Value("string") for name in header}),
    }


# file-name ending -> reader of (row number, row) given the file and max_record_bytes
_READERS: dict[str, Callable[[Path, int], NumberedRows]] = {
    ".jsonl": json_lines,
    ".json": json_file,
    ".jsonl.gz": json_lines,
    ".json.gz": json_file,
    ".parquet": partial(_with_datasets, "parquet"),
    ".csv": partial(_with_datasets, "csv"),
}
