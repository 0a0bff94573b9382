"""The stable key of a normalised example, by which reference log-probs are cached.

The key is the first 32 hex digits of the SHA-256 of the example's canonical JSON (prompt, responses, ranks, and
``finished`` where the example has it; sorted keys, no whitespace, UTF-8). Identical content gives the identical
key whatever file or row it came from; ``source`` takes no part. An example without ``finished`` keys as it did
before ``finished`` existed, so caches built then stay valid.
"""

from __future__ import annotations

import hashlib
import json

from prefopt.types import RankedExample

KEY_LENGTH = 32


def canonical_json(example: RankedExample) -> str:
    """The canonical JSON text of ``example`` that its key hashes."""
    content = {"prompt": example.prompt, "ranks": example.ranks, "responses": example.responses}
    if example.finished is not None:
        content["finished"] = example.finished
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def example_key(example: RankedExample) -> str:
    """32 hex digits identifying the content of ``example``."""
    return hashlib.sha256(canonical_json(example).encode("utf-8")).hexdigest()[:KEY_LENGTH]
