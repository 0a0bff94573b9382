"""What a run was started on, by content: recorded in every checkpoint and compared on ``--resume``.

The configuration names files; the identity says what was in them. Its parts:

- ``train data`` / ``held-out data``: :func:`prefopt.reference.fingerprint.dataset_hash` of the tokenised
  examples (keys, prompt and response token ids) and a sha256 of their order and ranks, which the training
  stream and the loss depend on (a file whose chosen and rejected responses were swapped changes both);
- ``tokenizer``: :func:`~prefopt.reference.fingerprint.tokenizer_identity`;
- ``model`` (and ``reference model`` when ``model.reference_path`` is set): the weights' hash, Hub commit or
  preset description, as the reference cache's fingerprint computes them;
- ``loss``: the loss's resolved settings (name, pairs and every option, defaults included).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefopt.data.batch import TokenizedExample
from prefopt.reference.cache import MEMO_NAME
from prefopt.reference.fingerprint import dataset_hash, source_identity, tokenizer_identity
from prefopt.reference.setup import reference_source
from prefopt.run.builder import RunParts


def _examples_identity(examples: Sequence[TokenizedExample]) -> dict[str, Any]:
    order = hashlib.sha256(json.dumps([[example.key, list(example.ranks)] for example in examples]).encode())
    return {**dataset_hash(examples), "order_and_ranks": order.hexdigest()}


def run_identity(parts: RunParts) -> dict[str, Any]:
    """The identity of the run made of ``parts`` (JSON); model hashes are remembered in the reference cache's
    file-hash memo, so a model is read once across runs."""
    config = parts.config
    memo = Path(config.reference.cache_dir).expanduser() / MEMO_NAME
    identity = {
        "train data": _examples_identity(parts.splits.train),
        "held-out data": _examples_identity(parts.splits.eval),
        "tokenizer": tokenizer_identity(parts.tokenizer),
        "model": source_identity(parts.source, memo),
        "loss": parts.loss.settings(),
    }
    if config.model.reference_path is not None:
        reference = reference_source(config.model, len(parts.tokenizer), config.seed)
        identity["reference model"] = source_identity(reference, memo)
    return identity


def identity_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """One phrase per part that differs: ``train data (2160 examples, sha256 1a2b3c4d... -> 2160 examples,
    sha256 5e6f7a8b...)``."""
    return [
        f"{part} ({_short(recorded.get(part))} -> {_short(current.get(part))})"
        for part in sorted(recorded.keys() | current.keys())
        if recorded.get(part) != current.get(part)
    ]


def _short(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, dict) and "num_examples" in value:
        return f"{value['num_examples']} examples, sha256 {value['sha256'][:12]}, order {value['order_and_ranks'][:12]}"
    if isinstance(value, str):
        return value if len(value) <= 40 else value[:40] + "..."
    return json.dumps(value)
