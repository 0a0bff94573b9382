"""Loading from files, directories and datasets; errors that name file, row and field; skip reports."""

from __future__ import annotations

import csv
import gzip
import json
import tracemalloc
from pathlib import Path

import datasets
import pytest

from prefopt.data import PreferenceDataError, load_preferences
from prefopt.types import RankedExample

ROWS = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "NA"},
]
EXPECTED = [RankedExample("What is 2+2?", ("4", "5"), (0, 1)), RankedExample("Say hi.", ("Hi!", "NA"), (0, 1))]
HH_PROMPT = "\n\nHuman: Can you help me?\n\nAssistant:"
HH_ROWS = [
    {"chosen": HH_PROMPT + " Sure.", "rejected": HH_PROMPT + " No."},
    {"chosen": HH_PROMPT + " Same.", "rejected": HH_PROMPT + " Same."},  # identical responses
    {"chosen": HH_PROMPT + " Yes.", "rejected": "\n\nHuman: Help!\n\nAssistant: No."},  # no shared prompt
    {"chosen": HH_PROMPT + " Yes.", "rejected": HH_PROMPT.replace("help", "hurt") + " Ok."},  # no shared prompt
    {"chosen": HH_PROMPT, "rejected": HH_PROMPT + " Hm."},  # empty chosen response
    {"chosen": HH_PROMPT + " Fine.", "rejected": HH_PROMPT + " Bad."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def write_json(path: Path, rows: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        json.dump(rows, handle)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("d.jsonl", write_jsonl),
        ("d.jsonl.gz", write_jsonl),
        ("d.json", write_json),
        ("d.json.gz", write_json),
        ("d.csv", write_csv),
        ("d.parquet", write_parquet),
    ],
)
def test_every_file_type_gives_the_same_examples(tmp_path, name, writer):
    path = writer(tmp_path / name, ROWS)
    examples, report = load_preferences(path)
    assert examples == EXPECTED
    assert [e.source for e in examples] == [f"{path}, row 1", f"{path}, row 2"]
    assert (report.rows, report.loaded, report.files) == (2, 2, [str(path)])


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("d.jsonl", write_jsonl),
        ("d.jsonl.gz", write_jsonl),
        ("d.json", write_json),
        ("d.json.gz", write_json),
        ("d.csv", write_csv),
    ],
)
def test_a_utf8_byte_order_mark_is_accepted_in_every_text_format(tmp_path, name, writer):
    path = writer(tmp_path / name, ROWS)
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + gzip.decompress(path.read_bytes())))
    else:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    examples, report = load_preferences(path)
    assert examples == EXPECTED and report.rows == 2


LIMIT = 1000
HUGE = {"prompt": "p" * (LIMIT + 1), "chosen": "a", "rejected": "b"}


@pytest.mark.parametrize(
    ("name", "writer"),
    [
        ("d.jsonl", write_jsonl),
        ("d.jsonl.gz", write_jsonl),
        ("d.json", write_json),
        ("d.csv", write_csv),
        ("d.parquet", write_parquet),
        ("records", None),
    ],
)
def test_a_record_over_max_record_bytes_is_a_bad_row_naming_it(tmp_path, name, writer):
    rows = [ROWS[0], HUGE, ROWS[1]]
    source = rows if writer is None else writer(tmp_path / name, rows)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(source, max_record_bytes=LIMIT)
    assert (caught.value.row, caught.value.reason) == (2, "too_large")
    assert str(caught.value).startswith(f"{source if writer else 'records'}, row 2: is ")
    assert "over the 1,000 bytes a record may have (data.max_record_bytes)" in str(caught.value)

    examples, report = load_preferences(source, max_record_bytes=LIMIT, on_error="skip")
    assert examples == EXPECTED
    assert report.skipped == {"too_large": 1} and report.rows == 3
    assert load_preferences(source, max_record_bytes=10 * LIMIT)[1].rows == 3


def test_a_json_lines_line_over_the_limit_is_measured_without_being_kept(tmp_path):
    line = json.dumps(HUGE | {"prompt": "p" * 20_000_000})
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n" + json.dumps(ROWS[1]) + "\n")
    tracemalloc.start()
    try:
        examples, report = load_preferences(path, max_record_bytes=LIMIT, on_error="skip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(line) / 4
    assert examples == EXPECTED
    assert f"row 2: is {len(line):,} bytes" in report.skip_examples["too_large"][0]


def test_datasets_and_in_memory_records(tmp_path):
    assert load_preferences(datasets.Dataset.from_list(ROWS))[0] == EXPECTED
    assert load_preferences(datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}))[0] == EXPECTED
    assert load_preferences(ROWS)[0] == EXPECTED


def test_a_dataset_dict_with_several_splits_is_ambiguous():
    splits = datasets.DatasetDict({name: datasets.Dataset.from_list(ROWS) for name in ("train", "test")})
    with pytest.raises(PreferenceDataError, match="pass one split"):
        load_preferences(splits)


def test_a_directory_reads_its_supported_files_in_name_order(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", ROWS[1:])
    write_csv(tmp_path / "a.csv", ROWS[:1])
    (tmp_path / "README.md").write_text("about the data")
    (tmp_path / "nested").mkdir()
    write_jsonl(tmp_path / "nested" / "c.jsonl", ROWS)
    examples, report = load_preferences(tmp_path)
    assert examples == EXPECTED
    assert report.files == [str(tmp_path / "a.csv"), str(tmp_path / "b.jsonl")]
    assert report.ignored_files == [str(tmp_path / "README.md")]
    assert "README.md" in report.summary()


def test_row_numbers_count_per_file(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ROWS)
    write_jsonl(tmp_path / "b.jsonl", [ROWS[0], {"prompt": "p", "chosen": "x", "rejected": " "}])
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(tmp_path)
    error = caught.value
    assert (error.file, error.row, error.field, error.reason) == (
        str(tmp_path / "b.jsonl"),
        2,
        "rejected",
        "empty_text",
    )
    assert str(error) == f"{tmp_path / 'b.jsonl'}, row 2, field 'rejected': is empty"


def test_raise_mode_stops_at_the_first_bad_row(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", HH_ROWS)
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path)
    # row 2 has identical responses: it carries no preference and is skipped in both modes
    assert (caught.value.row, caught.value.reason) == (3, "no_shared_prompt")


def test_skip_mode_counts_every_skipped_row_by_reason(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl.gz", HH_ROWS)
    examples, report = load_preferences(path, format="hh", on_error="skip")
    assert examples == [
        RankedExample(HH_PROMPT, (" Sure.", " No."), (0, 1)),
        RankedExample(HH_PROMPT, (" Fine.", " Bad."), (0, 1)),
    ]
    assert [e.source for e in examples] == [f"{path}, row 1", f"{path}, row 6"]
    assert report.skipped == {"identical_responses": 1, "no_shared_prompt": 2, "empty_text": 1}
    assert report.rows == report.loaded + report.num_skipped == 6
    assert report.skip_examples["no_shared_prompt"] == [
        f"{path}, row 3, field 'rejected': does not share the prompt with 'chosen' "
        "(the dialogues differ before the last '\\n\\nAssistant:')",
        f"{path}, row 4, field 'rejected': does not share the prompt with 'chosen' "
        "(the dialogues differ before the last '\\n\\nAssistant:')",
    ]
    summary = report.summary()
    assert "skipped 4 rows" in summary and "no_shared_prompt: 2" in summary and f"{path}, row 5" in summary


def test_mixed_shapes_are_detected_per_row():
    rows = [ROWS[0], {"prompt": "p", "responses": ["a", "b", "c"], "scores": [1, 3, 2]}, HH_ROWS[0]]
    examples, report = load_preferences(rows)
    assert [len(e.responses) for e in examples] == [2, 3, 2]
    assert report.formats == {"pairwise": 1, "scored": 1, "hh": 1}


def test_unknown_shape_is_an_error_naming_the_row():
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences([ROWS[0], {"question": "q", "answer": "a"}])
    assert (caught.value.file, caught.value.row, caught.value.reason) == ("records", 2, "unknown_format")


def test_a_malformed_file_is_an_error_naming_it_even_when_skipping(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[\n" + json.dumps(ROWS[0]) + ',\n{"prompt": "p", "chosen": "a"\n]\n')
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(path, on_error="skip")
    assert (caught.value.file, caught.value.row, caught.value.reason) == (str(path), None, "unreadable")
    assert "line 4, column 1" in str(caught.value)


@pytest.mark.parametrize("name", ["missing.jsonl", "data.txt"])
def test_missing_or_unsupported_paths_are_errors(tmp_path, name):
    (tmp_path / "data.txt").write_text("text")
    with pytest.raises(PreferenceDataError) as caught:
        load_preferences(tmp_path / name)
    assert caught.value.file == str(tmp_path / name)


def test_a_directory_without_data_files_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(PreferenceDataError, match="holds no"):
        load_preferences(tmp_path)


@pytest.mark.parametrize(("option", "value"), [("format", "pairs"), ("on_error", "ignore")])
def test_unknown_options_are_rejected(option, value):
    with pytest.raises(ValueError, match=value):
        load_preferences(ROWS, **{option: value})


def test_an_unreadable_kind_of_source_is_a_type_error():
    with pytest.raises(TypeError, match="int"):
        load_preferences(42)
