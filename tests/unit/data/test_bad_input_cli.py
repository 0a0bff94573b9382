"""Bad input files through ``prefopt train``: one line on stderr, exit status 2, never a traceback."""

from __future__ import annotations

import gzip
import json

import pytest

from prefopt import quickstart
from prefopt.cli import main

ROWS = quickstart.generate(8, seed=0)
LINES = [json.dumps(row).encode() for row in ROWS]
HUGE_LINE = json.dumps({"prompt": "p" * 5000, "chosen": "a", "rejected": "b"}).encode()


def train(tmp_path, data, *overrides: str) -> int:
    return main(
        [
            "train",
            f"data.path={data}",
            f"logging.output_dir={tmp_path / 'run'}",
            f"reference.cache_dir={tmp_path / 'cache'}",
            "logging.progress=false",
            "optim.max_steps=1",
            *overrides,
        ]
    )


def write(path, lines: list[bytes]):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


BAD_FILES = {
    "not_utf8.jsonl.gz": ([*LINES[:2], b'{"prompt": "caf\xe9"}', *LINES[2:]], (), "row 3: is not valid UTF-8"),
    "bad_json.jsonl": ([*LINES[:4], b'{"prompt": ', *LINES[4:]], (), "row 5: is not valid JSON"),
    "float_rank.jsonl": (
        [
            b'{"prompt": "p", "responses": ["a", "b"], "ranks": [0, 1]}',
            b'{"prompt": "q", "responses": ["a", "b"], "ranks": [0.5, 1]}',
        ],
        (),
        "row 2, field 'ranks[0]': must be an integer; got 0.5",
    ),
    "empty.jsonl": ([], (), ": holds no rows"),
    "duplicate_key.jsonl": (
        [*LINES[:1], b'{"prompt": "p", "chosen": "a", "rejected": "b", "prompt": "q"}', *LINES[1:]],
        (),
        "row 2: gives the key 'prompt' twice; a record takes each key once; set data.on_error=skip",
    ),
    "too_large.jsonl": (
        [*LINES[:3], HUGE_LINE, *LINES[3:]],
        ("data.max_record_bytes=4096",),
        f"row 4: is {len(HUGE_LINE):,} bytes, over the 4,096 bytes a record may have (data.max_record_bytes)",
    ),
    "all_skipped.jsonl": (
        [b'{"prompt": null, "chosen": "a", "rejected": "b"}'] * 3,
        ("data.on_error=skip",),
        ": none of its 3 rows is usable (skipped: missing_field 3)",
    ),
    "too_long.jsonl": (
        LINES,
        ("data.max_length=4", "data.max_prompt_length=2", "data.on_overflow=drop"),
        "tokenising dropped all 7 train examples (too_long 7)",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_one_message_and_exit_status_2(tmp_path, capsys, name):
    lines, overrides, message = BAD_FILES[name]
    path = write(tmp_path / name, lines)
    assert train(tmp_path, path, *overrides) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("prefopt train: ") and message in last
    assert str(path) in last or name == "too_long.jsonl"


def test_a_run_without_held_out_examples_trains_with_a_warning(tmp_path, capsys):
    identical = {"prompt": ROWS[0]["prompt"], "chosen": ROWS[0]["chosen"], "rejected": ROWS[0]["chosen"]}
    path = write(tmp_path / "one.jsonl", [LINES[0], LINES[0], json.dumps(identical).encode()])
    with pytest.warns(UserWarning, match="holds out no example"):
        assert train(tmp_path, path, "data.eval_fraction=0.2") == 0
    out = capsys.readouterr().out
    assert "identical_responses: 1" in out and "eval: tokenized 0 examples" in out
    assert (tmp_path / "run" / "final").is_dir()


def test_a_truncated_gzip_file_is_one_message_or_trains_on_the_rows_before(tmp_path, capsys):
    rows = quickstart.generate(40, seed=1)
    whole = gzip.compress(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[:-8])  # all rows, no trailer
    assert train(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"prefopt train: {path}: is truncated after row 40: the gzip stream ends early (Compressed file ended "
        "before the end-of-stream marker was reached); set data.on_error=skip to use the rows read before the truncation"
    )
    assert train(tmp_path, path, "data.on_error=skip") == 0
    out = capsys.readouterr().out
    assert "read 40 rows" in out and f"{path}: is truncated after row 40: " in out
