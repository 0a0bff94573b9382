"""The error raised for bad preference data, and the reasons it can give.

Every error names where it happened: the file (or in-memory dataset), the 1-based row within it, and the field.
``str(error)`` reads ``"train.jsonl, row 12, field 'rejected': identical to 'chosen' ..."``.
"""

from __future__ import annotations

# Reasons, also the keys under which skipped rows are counted.
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
EMPTY_TEXT = "empty_text"
TOO_FEW_RESPONSES = "too_few_responses"
LENGTH_MISMATCH = "length_mismatch"
BAD_RANKING = "bad_ranking"
ALL_TIED = "all_tied"
IDENTICAL_RESPONSES = "identical_responses"
NO_SHARED_PROMPT = "no_shared_prompt"
UNKNOWN_FORMAT = "unknown_format"
UNREADABLE = "unreadable"
NOT_UTF8 = "not_utf8"
BAD_JSON = "bad_json"
DUPLICATE_KEY = "duplicate_key"
TOO_LARGE = "too_large"
TRUNCATED = "truncated"
NO_EXAMPLES = "no_examples"
CHAT_TEMPLATE = "chat_template"

# Rows that carry no preference: skipped and counted whatever ``on_error`` says, as they hold nothing to learn from.
NO_PREFERENCE = frozenset({IDENTICAL_RESPONSES, ALL_TIED})


def location(file: str | None, row: int | None) -> str | None:
    """``"train.jsonl, row 12"``, or whichever part is known; None when neither is."""
    parts = [part for part in (file, None if row is None else f"row {row}") if part]
    return ", ".join(parts) or None


class PreferenceDataError(ValueError):
    """A row (or file) of preference data that cannot be used.

    Attributes:
        message: what is wrong, without the location.
        reason: one of the reason constants of this module (e.g. ``"identical_responses"``).
        file: the file or dataset name, or None.
        row: the 1-based row within ``file``, or None for file-level errors.
        field: the offending field (e.g. ``"responses[2]"``), or None.
        source: the formatted location (``"train.jsonl, row 12"``); set on its own for errors raised after
            loading, from :attr:`RankedExample.source`.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.reason = reason
        self.file = file
        self.row = row
        self.field = field
        self.source = source or location(file, row)
        where = [part for part in (self.source, None if field is None else f"field '{field}'") if part]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def at(self, file: str, row: int) -> PreferenceDataError:
        """The same error, located at ``row`` of ``file``."""
        return PreferenceDataError(self.message, reason=self.reason, file=file, row=row, field=self.field)
