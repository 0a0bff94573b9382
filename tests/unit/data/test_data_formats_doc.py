"""The example in docs/data-formats.md runs, with a local in-memory tokenizer in place of a model directory."""

from __future__ import annotations

import re
from pathlib import Path

import transformers

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-formats.md"


def test_the_documented_example_runs(monkeypatch, tokenizer, capsys):
    code = re.search(r"## Example\n\n```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: tokenizer)
    exec(compile(code, str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert "skipped 1 rows" in printed and "identical_responses: 1" in printed
    assert "torch.Size([1, " in printed
