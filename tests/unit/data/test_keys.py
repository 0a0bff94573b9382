"""The example key: a hash of the normalised content only."""

from __future__ import annotations

import hashlib
import json

from prefopt.data import example_key, load_preferences
from prefopt.types import RankedExample


def test_key_is_the_truncated_sha256_of_the_canonical_json():
    example = RankedExample("Prompt é", ("a", "b"), (0, 1), source="x.jsonl, row 3")
    text = '{"prompt":"Prompt é","ranks":[0,1],"responses":["a","b"]}'
    assert example_key(example) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def test_same_content_from_any_shape_file_or_row_has_the_same_key(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"prompt": "p", "chosen": "x", "rejected": "y"})
        + "\n"
        + json.dumps({"prompt": "q", "chosen": "z", "rejected": "w"})
    )
    (tmp_path / "b.jsonl").write_text(json.dumps({"prompt": "p", "responses": ["y", "x"], "scores": [0, 1]}))
    examples, _ = load_preferences(tmp_path)
    keys = [example_key(e) for e in examples]
    assert keys[0] == keys[2] != keys[1]


def test_any_change_of_content_changes_the_key():
    base = RankedExample("p", ("a", "b", "c"), (0, 1, 2))
    variants = [
        RankedExample("p ", ("a", "b", "c"), (0, 1, 2)),
        RankedExample("p", ("a", "c", "b"), (0, 1, 2)),
        RankedExample("p", ("a", "b", "c"), (0, 1, 1)),
        RankedExample(({"role": "user", "content": "p"},), ("a", "b", "c"), (0, 1, 2)),
    ]
    assert len({example_key(e) for e in [base, *variants]}) == 5
