"""One package for the reference: every public name imports from it, and reading caches stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import prefopt.reference as reference
from prefopt.reference import setup

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "reference-cache.md"


def test_every_listed_name_imports_from_the_package():
    missing = [name for name in reference.__all__ if not hasattr(reference, name)]
    assert not missing
    assert reference.reference_log_probs is setup.reference_log_probs
    with pytest.raises(AttributeError, match="no_such_name"):
        reference.no_such_name  # noqa: B018


def test_reading_caches_does_not_import_transformers():
    code = "import sys, prefopt.reference; sys.exit('transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_reference_cache_doc_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    code = next(block for block in blocks if "get_or_build" in block)
    exec(compile(code, str(DOC), "exec"), {})
    assert "examples cached at" in capsys.readouterr().out
