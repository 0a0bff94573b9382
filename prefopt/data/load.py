"""Load preference data: read every row, normalise it, and account for every row that is not used."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from prefopt.config import DEFAULT_MAX_RECORD_BYTES
from prefopt.data.errors import NO_EXAMPLES, NO_PREFERENCE, TRUNCATED, WRONG_TYPE, PreferenceDataError, location
from prefopt.data.readers import RowSource, Source, open_sources
from prefopt.data.records import SHAPES, detect_format, normalise_record
from prefopt.types import RankedExample

ON_ERROR = ("raise", "skip")
EXAMPLES_PER_REASON = 3


@dataclass
class LoadReport:
    """What loading read, used and skipped.

    Attributes:
        files: the files (or dataset names) read, in order.
        ignored_files: files of a directory passed over because their type is not supported.
        rows: rows read.
        formats: loaded examples per record shape (``pairwise``, ``ranked``, ``scored``, ``hh``).
        skipped: skipped rows per reason: rows without a preference (``identical_responses``, ``all_tied``)
            always, any bad row with ``on_error="skip"``.
        skip_examples: per reason, the first few error messages, each naming file, row and field.
        truncated: with ``on_error="skip"``, the message of each file whose gzip stream ended early (its rows
            decoded before the end are read and counted in ``rows``).
    """

    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    rows: int = 0
    formats: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    skip_examples: dict[str, list[str]] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        """Examples loaded."""
        return sum(self.formats.values())

    @property
    def num_skipped(self) -> int:
        """Rows skipped, over all reasons."""
        return sum(self.skipped.values())

    def record_skip(self, error: PreferenceDataError) -> None:
        """Count ``error``'s row as skipped and keep its message if it is among the first of its reason."""
        self.skipped[error.reason] += 1
        kept = self.skip_examples.setdefault(error.reason, [])
        if len(kept) < EXAMPLES_PER_REASON:
            kept.append(str(error))

    def summary(self) -> str:
        """A few human-readable lines: rows read, examples loaded per shape, rows skipped per reason."""
        shapes = ", ".join(f"{shape} {count}" for shape, count in sorted(self.formats.items()))
        lines = [
            f"read {self.rows} rows from {len(self.files)} source(s); loaded {self.loaded} examples"
            + (f" ({shapes})" if shapes else "")
        ]
        if self.ignored_files:
            lines.append(f"ignored {len(self.ignored_files)} unsupported file(s): {', '.join(self.ignored_files)}")
        lines.extend(f"{message}; the rows before are used" for message in self.truncated)
        if self.skipped:
            lines.append(f"skipped {self.num_skipped} rows:")
            for reason, count in self.skipped.most_common():
                lines.append(f"  {reason}: {count}")
                lines.extend(f"    e.g. {message}" for message in self.skip_examples[reason])
        return "\n".join(lines)


def load_preferences(
    source: Source, *, format: str = "auto", on_error: str = "raise", max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> tuple[list[RankedExample], LoadReport]:
    """Read ``source`` and normalise each row to a :class:`RankedExample`, best response first.

    Args:
        source: a file or directory path (see :mod:`prefopt.data.readers`), a
            :class:`~prefopt.data.hub.NamedDataset` (see :mod:`prefopt.data.hub`), a ``datasets.Dataset``, a
            single-split ``datasets.DatasetDict``, or an iterable of record dicts.
        format: ``"auto"`` (detect each row's shape from its keys) or one of ``pairwise``, ``ranked``,
            ``scored``, ``hh`` (see :mod:`prefopt.data.records`).
        on_error: ``"raise"`` stops at the first bad row with a :class:`PreferenceDataError` naming its file,
            row and field; ``"skip"`` leaves bad rows out and counts them per reason in the report. Rows that
            carry no preference (identical responses, every response tied) are skipped and counted in both
            modes. Files that cannot be read raise in both modes; a truncated gzip file raises, or with
            ``"skip"`` gives the rows decoded before its end and is named in :attr:`LoadReport.truncated`.
        max_record_bytes: a record over this size is a bad row (reason ``"too_large"``); see
            :mod:`prefopt.data.readers`.

    Returns:
        The examples in source order, and a :class:`LoadReport`.

    Raises:
        PreferenceDataError: for a bad row (``on_error="raise"``), a file that cannot be read, or a source
            that yields no example at all (reason ``"no_examples"``).
    """
    if format != "auto" and format not in SHAPES:
        raise ValueError(f"unknown format {format!r}; expected 'auto' or one of {SHAPES}")
    if on_error not in ON_ERROR:
        raise ValueError(f"unknown on_error {on_error!r}; expected one of {ON_ERROR}")
    sources, ignored = open_sources(source, max_record_bytes)
    report = LoadReport(ignored_files=ignored)
    examples = []
    for stream in sources:
        report.files.append(stream.name)
        try:
            _read_stream(stream, format, on_error, report, examples)
        except PreferenceDataError as error:
            if error.reason != TRUNCATED or on_error == "raise":
                raise
            report.truncated.append(str(error))
    if not examples:
        raise PreferenceDataError(_nothing_loaded(report), reason=NO_EXAMPLES, file=", ".join(report.files))
    return examples, report


def _read_stream(stream: RowSource, format: str, on_error: str, report: LoadReport, examples: list) -> None:
    """Append the examples of ``stream`` to ``examples``, counting its rows in ``report``."""
    for row_number, row in stream.read():
        report.rows += 1
        try:
            shape, example = _normalise(row, format)
        except PreferenceDataError as error:
            located = error.at(stream.name, row_number)
            if on_error == "raise" and error.reason not in NO_PREFERENCE:
                raise located from None
            report.record_skip(located)
            continue
        report.formats[shape] += 1
        examples.append(replace(example, source=location(stream.name, row_number)))


def _normalise(row: object, format: str) -> tuple[str, RankedExample]:
    """The shape and example of one row as a reader gave it: a record, or the error that stopped its parsing."""
    if isinstance(row, PreferenceDataError):
        raise row
    if not isinstance(row, Mapping):
        raise PreferenceDataError(
            f"expected a record with named fields (a JSON object); got {type(row).__name__}", reason=WRONG_TYPE
        )
    shape = detect_format(row) if format == "auto" else format
    return shape, normalise_record(row, shape)


def _nothing_loaded(report: LoadReport) -> str:
    if not report.rows:
        return "holds no rows"
    reasons = ", ".join(f"{reason} {count}" for reason, count in report.skipped.most_common())
    first = report.skip_examples[report.skipped.most_common(1)[0][0]][0]
    return f"none of its {report.rows} rows is usable (skipped: {reasons}); e.g. {first}"
