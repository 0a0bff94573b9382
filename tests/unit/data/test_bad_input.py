"""Bad input files: one message naming file, row (the 1-based line) and field, or a counted skip of that row alone.

A bad row never changes how the other rows are read, and no good row is lost.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import datasets
import pytest

from prefopt.data import PreferenceDataError, load_preferences
from prefopt.types import RankedExample

GOOD = [{"prompt": f"Question {i}?", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(1, 5)]
GOOD_EXAMPLES = [RankedExample(row["prompt"], (row["chosen"], row["rejected"]), (0, 1)) for row in GOOD]
GOOD_LINES = [json.dumps(row).encode() for row in GOOD]
RANKED = [{"prompt": f"Q{i}", "responses": ["a", "b", "c"], "ranks": [2, 0, 1]} for i in range(1, 5)]
RANKED_EXAMPLE = ("b", "c", "a"), (0, 1, 2)  # responses best first, dense ranks


def write_lines(path: Path, lines: list[bytes]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def with_bad_line(bad: bytes, at: int) -> list[bytes]:
    """The good lines with ``bad`` as line ``at`` (1-based)."""
    return [*GOOD_LINES[: at - 1], bad, *GOOD_LINES[at - 1 :]]


def rows_of(examples: list[RankedExample]) -> list[int]:
    return [int(example.source.rsplit("row ", 1)[1]) for example in examples]


@pytest.mark.parametrize("name", ["data.jsonl", "data.jsonl.gz"])
def test_a_line_that_is_not_utf8_names_file_and_line_or_is_skipped_alone(tmp_path, name):
    path = write_lines(tmp_path / name, with_bad_line(b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}', 3))
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.file, caught.value.row, caught.value.reason) == (str(path), 3, "not_utf8")
    assert str(caught.value).startswith(f"{path}, row 3: is not valid UTF-8: byte 0xe9 at byte 16 of the line")

    examples, report = load_preferences(path, on_error="skip")
    assert examples == GOOD_EXAMPLES and rows_of(examples) == [1, 2, 4, 5]
    assert report.skipped == {"not_utf8": 1} and report.rows == 5


@pytest.mark.parametrize(
    ("bad", "reason", "message"),
    [
        pytest.param(
            b'{"prompt": "p", "chosen": "a"',
            "bad_json",
            "is not valid JSON: Expecting ',' delimiter at column 30",
            id="unterminated",
        ),
        pytest.param(
            b'{"prompt": "p"} {"chosen": "a"}', "bad_json", "is not valid JSON: Extra data at column 17", id="two"
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "bad_json", "cannot be parsed as JSON", id="deep"),
        pytest.param(
            b"[1, 2]", "wrong_type", "expected a record with named fields (a JSON object); got list", id="list"
        ),
        pytest.param(
            b'"text"', "wrong_type", "expected a record with named fields (a JSON object); got str", id="text"
        ),
        pytest.param(b"\xff\xfe{}", "not_utf8", "is not valid UTF-8: byte 0xff at byte 1 of the line", id="utf16"),
        pytest.param(
            b'{"prompt": "p\\ud800", "chosen": "a", "rejected": "b"}',
            "not_utf8",
            "field 'prompt': is not valid Unicode: lone surrogate '\\ud800' at character 2",
            id="surrogate",
        ),
    ],
)
def test_one_bad_line_is_skipped_alone_and_numbered_by_its_line(tmp_path, bad, reason, message):
    lines = with_bad_line(bad, 4)
    lines.insert(1, b"")  # a blank line: passed over, but counted in the line numbers
    path = write_lines(tmp_path / "data.jsonl", lines)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.reason) == (5, reason)
    assert str(caught.value).startswith(f"{path}, row 5") and message in str(caught.value)

    examples, report = load_preferences(path, on_error="skip")
    assert examples == GOOD_EXAMPLES and rows_of(examples) == [1, 3, 4, 6]
    assert report.skipped == {reason: 1} and report.rows == 5


def test_a_byte_order_mark_is_not_part_of_the_first_record(tmp_path):
    path = write_lines(tmp_path / "data.jsonl", [b"\xef\xbb\xbf" + GOOD_LINES[0], *GOOD_LINES[1:]])
    assert load_preferences(path)[0] == GOOD_EXAMPLES


def gzip_cut_short(path: Path, records: list[bytes], *, separator: bytes, ending: bytes, cut: str) -> int:
    """Write ``records`` (a JSON array when ``ending`` is ``b"]"``, else lines) as a gzip file cut short (``cut``:
    ``"half"`` of the compressed bytes kept, or ``"trailer"``: all but the 8-byte trailer), and return how many
    whole records the bytes kept decode to (found with ``zlib`` alone)."""
    opening = b"[\n" if ending == b"]" else b""
    whole = gzip.compress(opening + separator.join(records) + ending)
    kept = whole[: len(whole) // 2] if cut == "half" else whole[:-8]
    path.write_bytes(kept)
    decodable = len(zlib.decompressobj(wbits=31).decompress(kept))
    ends = [len(opening + separator.join(records[: i + 1])) + (ending == b"\n") for i in range(len(records))]
    return sum(end <= decodable for end in ends)


@pytest.mark.parametrize("cut", ["half", "trailer"])
@pytest.mark.parametrize(
    ("name", "separator", "ending"),
    [("data.jsonl.gz", b"\n", b"\n"), ("data.json.gz", b",\n", b"]"), ("lines.json.gz", b"\n", b"\n")],
)
def test_a_truncated_gzip_file_names_the_row_and_skip_mode_keeps_the_rows_before(
    tmp_path, cut, name, separator, ending
):
    rows = [
        {"prompt": f"Question {i}: {hashlib.sha256(bytes(i)).hexdigest()}", "chosen": "a", "rejected": "b"}
        for i in range(40)
    ]
    records = [json.dumps(row).encode() for row in rows]
    path = tmp_path / name
    decodable = gzip_cut_short(path, records, separator=separator, ending=ending, cut=cut)
    assert 0 < decodable < len(records) if cut == "half" else decodable == len(records)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.file, caught.value.reason) == (str(path), "truncated")
    assert str(caught.value).startswith(f"{path}: is truncated after row {decodable}: the gzip stream ends early")

    examples, report = load_preferences(path, on_error="skip")
    assert [example.prompt for example in examples] == [row["prompt"] for row in rows[:decodable]]
    assert report.rows == decodable and not report.skipped
    assert report.truncated == [str(caught.value)]
    assert f"after row {decodable}" in report.summary()


def test_a_corrupt_gzip_file_is_an_error_naming_it_even_when_skipping(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    whole = bytearray(gzip.compress(b"\n".join(GOOD_LINES * 100)))
    whole[-8] ^= 0xFF  # the trailer's checksum
    path.write_bytes(bytes(whole))
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path, on_error="skip")
    assert (caught.value.file, caught.value.reason) == (str(path), "unreadable")
    assert "cannot be read after line" in str(caught.value)


DUPLICATED = b'{"prompt": "p", "chosen": "a", "rejected": "b", "chosen": "c"}'
DUPLICATED_NESTED = b'{"prompt": [{"role": "user", "content": "x", "role": "assistant"}], "chosen": [], "rejected": []}'


@pytest.mark.parametrize(("line", "key"), [(DUPLICATED, "chosen"), (DUPLICATED_NESTED, "role")])
def test_a_json_lines_record_giving_a_key_twice_is_a_bad_row(tmp_path, line, key):
    path = write_lines(tmp_path / "data.jsonl", with_bad_line(line, 3))
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.reason) == (3, "duplicate_key")
    assert str(caught.value) == f"{path}, row 3: gives the key {key!r} twice; a record takes each key once"

    examples, report = load_preferences(path, on_error="skip")
    assert examples == GOOD_EXAMPLES and rows_of(examples) == [1, 2, 4, 5]
    assert report.skipped == {"duplicate_key": 1}


def test_a_json_array_record_giving_a_key_twice_is_a_bad_row_naming_its_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_bytes(b"[\n" + b",\n".join(with_bad_line(DUPLICATED, 2)) + b"\n]\n")
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.reason) == (2, "duplicate_key")
    assert str(caught.value) == (
        f"{path}, row 2: gives the key 'chosen' twice (the record at line 3); a record takes each key once"
    )
    examples, report = load_preferences(path, on_error="skip")
    assert examples == GOOD_EXAMPLES and rows_of(examples) == [1, 3, 4, 5]
    assert report.skipped == {"duplicate_key": 1}


def test_a_json_array_names_the_position_of_a_bad_record(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([GOOD[0], {**GOOD[1], "chosen": 5}, GOOD[2], "text", GOOD[3]], indent=2))
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.field, caught.value.reason) == (2, "chosen", "wrong_type")
    examples, report = load_preferences(path, on_error="skip")
    assert examples == [GOOD_EXAMPLES[0], GOOD_EXAMPLES[2], GOOD_EXAMPLES[3]]
    assert report.skipped == {"wrong_type": 2}


def test_a_json_array_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_bytes(b'[\n{"prompt": "a", "chosen": "b", "rejected": "c"},\n{"prompt": "caf\xe9"}\n]\n')
    with pytest.raises(PreferenceDataError, match=r"line 3 is not valid UTF-8 \(byte 0xe9\)") as caught:
        load_preferences(path, on_error="skip")
    assert (caught.value.file, caught.value.reason) == (str(path), "unreadable")


RANK_LITERALS = [
    ("0.5", "wrong_type"),
    ("NaN", "wrong_type"),
    ("Infinity", "wrong_type"),
    ("-Infinity", "wrong_type"),
    ("true", "wrong_type"),
    ('"0"', "wrong_type"),
    ("null", "wrong_type"),
    ("[0]", "wrong_type"),
    ("1e20", "bad_ranking"),
    (str(10**20), "bad_ranking"),
    (str(2**31), "bad_ranking"),
    (str(-(2**31) - 1), "bad_ranking"),
]


@pytest.mark.parametrize(("literal", "reason"), RANK_LITERALS)
def test_an_odd_rank_in_one_row_leaves_the_other_rows_as_they_are(tmp_path, literal, reason):
    bad = f'{{"prompt": "Q0", "responses": ["a", "b", "c"], "ranks": [2, {literal}, 1]}}'.encode()
    lines = [json.dumps(RANKED[0]).encode(), bad, *(json.dumps(row).encode() for row in RANKED[1:])]
    path = write_lines(tmp_path / "ranked.jsonl", lines)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.field, caught.value.reason) == (2, "ranks[1]", reason)

    examples, report = load_preferences(path, on_error="skip")
    assert [(e.responses, e.ranks) for e in examples] == [RANKED_EXAMPLE] * 4
    assert all(type(rank) is int for e in examples for rank in e.ranks)
    assert rows_of(examples) == [1, 3, 4, 5] and report.skipped == {reason: 1}


def test_a_text_field_of_another_type_in_one_row_leaves_the_other_rows_as_they_are(tmp_path):
    path = write_lines(tmp_path / "data.jsonl", with_bad_line(b'{"prompt": "p", "chosen": 5, "rejected": "b"}', 2))
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    assert (caught.value.row, caught.value.field, caught.value.reason) == (2, "chosen", "wrong_type")
    examples, report = load_preferences(path, on_error="skip")
    assert examples == GOOD_EXAMPLES and report.skipped == {"wrong_type": 1}


def test_integral_float_ranks_count_as_integers():
    rows = [
        {"prompt": "Q", "responses": ["a", "b", "c"], "ranks": [2.0, 0, 1.0]},
        {"prompt": "Q", "responses": ["a", "b", "c"], "ranking": [1.0, 2, 0.0]},
        {"prompt": "Q", "responses": ["a", "b", "c"], "ranks": [2**31 - 1, -(2**31), 0]},
    ]
    examples, _ = load_preferences(rows)
    assert [(e.responses, e.ranks) for e in examples] == [RANKED_EXAMPLE, RANKED_EXAMPLE, (("b", "c", "a"), (0, 1, 2))]
    assert all(type(rank) is int for e in examples for rank in e.ranks)


def test_a_parquet_file_with_float_ranks_loads(tmp_path):
    path = tmp_path / "ranked.parquet"
    datasets.Dataset.from_list([{**row, "ranks": [float(r) for r in row["ranks"]]} for row in RANKED]).to_parquet(
        str(path)
    )
    examples, _ = load_preferences(path)
    assert [(e.responses, e.ranks) for e in examples] == [RANKED_EXAMPLE] * 4


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "data.jsonl"), (b"\n\n  \n", "data.jsonl"), (b"", "data.jsonl.gz"), (b"[]", "data.json")],
)
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_file_without_rows_is_one_error(tmp_path, content, name, on_error):
    path = tmp_path / name
    (gzip.open if name.endswith(".gz") else open)(path, "wb").write(content)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path, on_error=on_error)
    assert (caught.value.file, caught.value.reason) == (str(path), "no_examples")
    assert str(caught.value) == f"{path}: holds no rows"


def test_skipping_every_row_is_one_error_that_says_why(tmp_path):
    path = write_lines(tmp_path / "data.jsonl", [b'{"prompt": "p", "chosen": " ", "rejected": "b"}'] * 3)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path, on_error="skip")
    assert caught.value.reason == "no_examples"
    assert str(caught.value) == (
        f"{path}: none of its 3 rows is usable (skipped: empty_text 3); e.g. {path}, row 1, field 'chosen': is empty"
    )


def test_rows_without_a_preference_alone_are_one_error_in_raise_mode_too():
    rows = [{"prompt": "p", "chosen": "a", "rejected": "a"}, {"prompt": "p", "responses": ["a", "b"], "ranks": [1, 1]}]
    with pytest.raises(PreferenceDataError, match=r"none of its 2 rows is usable") as caught:
        load_preferences(rows)
    assert (caught.value.file, caught.value.reason) == ("records", "no_examples")


def test_an_empty_list_of_records_is_one_error():
    with pytest.raises(PreferenceDataError, match="records: holds no rows"):
        load_preferences([])


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": None, "chosen": "a", "rejected": "b"}, "prompt"),
        ({"prompt": "p", "chosen": None, "rejected": "b"}, "chosen"),
        ({"prompt": "p", "chosen": "a", "rejected": None}, "rejected"),
        ({"prompt": "p", "responses": ["a", None, "c"], "scores": [1, 2, 3]}, "responses[1]"),
        ({"prompt": [{"role": "user", "content": "hi"}], "chosen": [None], "rejected": "b"}, "chosen[0]"),
    ],
)
def test_a_null_text_is_named_as_null(row, field):
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences([GOOD[0], row])
    assert (caught.value.row, caught.value.field, caught.value.reason) == (2, field, "missing_field")
    assert caught.value.message.startswith("is null")
    examples, report = load_preferences([GOOD[0], row], on_error="skip")
    assert examples == GOOD_EXAMPLES[:1] and report.skipped == {"missing_field": 1}


def test_a_null_prompt_of_hh_dialogues_is_no_error():
    dialogue = "\n\nHuman: Hi\n\nAssistant:"
    row = {"prompt": None, "chosen": dialogue + " Hello.", "rejected": dialogue + " What?"}
    assert load_preferences([row])[0] == [RankedExample(dialogue, (" Hello.", " What?"), (0, 1))]


def test_a_record_that_is_not_a_mapping_is_a_row_error():
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences([GOOD[0], "text"])
    assert (caught.value.file, caught.value.row, caught.value.reason) == ("records", 2, "wrong_type")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"prompt": "p", "chosen": "same", "rejected": "same"}, "identical_responses"),
        ({"prompt": "p", "responses": ["a", "b", "c"], "scores": [0.5, 0.5, 0.5]}, "all_tied"),
    ],
)
def test_rows_without_a_preference_are_skipped_and_counted_in_raise_mode(bad, reason):
    examples, report = load_preferences([GOOD[0], bad, GOOD[1]])
    assert examples == GOOD_EXAMPLES[:2] and rows_of(examples) == [1, 3]
    assert report.skipped == {reason: 1} and report.rows == 3
    assert f"skipped 1 rows:\n  {reason}: 1\n    e.g. records, row 2" in report.summary()
