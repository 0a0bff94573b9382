"""Fixtures of the end-to-end tests."""

from pathlib import Path

import pytest

from tests.integration.runs import write_ranked_file


@pytest.fixture
def ranked_file(tmp_path: Path) -> Path:
    return write_ranked_file(tmp_path / "ranked.jsonl")
