"""Where rows come from: files read with the ``datasets`` library, datasets passed in code, or records in memory.

Supported files: ``.jsonl``, ``.json`` (a list of records, or JSON Lines), ``.parquet``, ``.csv``, and gzip
compressed ``.jsonl.gz`` / ``.json.gz``; CSV cells are all read as text. A directory means its supported files
(not its subdirectories), sorted by name. Files are read locally through ``datasets.load_dataset`` into a
temporary cache that is removed after reading; nothing is fetched from the Hugging Face Hub.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets

from prefopt.data.errors import UNREADABLE, PreferenceDataError

# file-name ending -> datasets builder
_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".jsonl.gz": "json",
    ".json.gz": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}

Source = str | os.PathLike | datasets.Dataset | datasets.DatasetDict | Iterable[Mapping]


@dataclass
class RowSource:
    """One named stream of rows; row numbers are 1-based positions in ``rows``."""

    name: str
    rows: Iterable[Mapping]


def supported(path: Path) -> bool:
    """Whether ``path`` has a file-name ending this module reads."""
    return _builder(path) is not None


def open_sources(source: Source) -> tuple[list[RowSource], list[str]]:
    """The row streams of ``source`` and the files of a directory that were passed over as unsupported."""
    if isinstance(source, datasets.DatasetDict):
        splits = sorted(source)
        if len(splits) != 1:
            raise PreferenceDataError(
                f"a DatasetDict with splits {splits} is ambiguous; pass one split, e.g. dataset[{splits[0]!r}]",
                reason=UNREADABLE,
                file="DatasetDict",
            )
        return [RowSource(f"split {splits[0]!r}", source[splits[0]])], []
    if isinstance(source, datasets.Dataset):
        return [RowSource("Dataset", source)], []
    if isinstance(source, str | os.PathLike):
        return _open_path(Path(source))
    if isinstance(source, Iterable):
        return [RowSource("records", source)], []
    raise TypeError(f"cannot read preference data from a {type(source).__name__}")


def _open_path(path: Path) -> tuple[list[RowSource], list[str]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        usable = [p for p in files if supported(p)]
        if not usable:
            raise PreferenceDataError(f"holds no {', '.join(_BUILDERS)} files", reason=UNREADABLE, file=str(path))
        return [RowSource(str(p), _FileRows(p)) for p in usable], [str(p) for p in files if not supported(p)]
    if not path.is_file():
        raise PreferenceDataError("does not exist", reason=UNREADABLE, file=str(path))
    if not supported(path):
        raise PreferenceDataError(
            f"is not a supported file; expected one of {', '.join(_BUILDERS)}", reason=UNREADABLE, file=str(path)
        )
    return [RowSource(str(path), _FileRows(path))], []


def _builder(path: Path) -> str | None:
    name = path.name.lower()
    return next((builder for ending, builder in _BUILDERS.items() if name.endswith(ending)), None)


@dataclass
class _FileRows:
    """The rows of one file, read when iterated."""

    path: Path

    def __iter__(self) -> Iterator[Mapping]:
        builder = _builder(self.path)
        with tempfile.TemporaryDirectory(prefix="prefopt-read-") as cache:
            try:
                options = _csv_options(self.path) if builder == "csv" else {}
                dataset = datasets.load_dataset(
                    builder, data_files=str(self.path), split="train", cache_dir=cache, **options
                )
            except Exception as error:  # datasets raises many kinds; each means the file cannot be read
                cause = error.__cause__ or error
                raise PreferenceDataError(
                    f"cannot be read as {builder}: {cause}", reason=UNREADABLE, file=str(self.path)
                ) from error
            yield from dataset


def _csv_options(path: Path) -> dict:
    """Read every CSV cell as text: no number inference ("007" stays "007"), no "NA"/"null" as missing."""
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return {
        "keep_default_na": False,
        "features": datasets.Features({name: datasets.Value("string") for name in header}),
    }
