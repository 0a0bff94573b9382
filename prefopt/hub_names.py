"""Whether a name is spelt like a Hugging Face Hub repository id rather than like a filesystem path."""

from __future__ import annotations

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id


def is_hub_id(name: str) -> bool:
    """``org/name`` or ``name`` (the Hub's own rules), and not a path written as one (``./x``, ``~/x``, ``/x``,
    ``x.gguf``)."""
    if name.startswith((".", "~", "/")) or name.endswith(".gguf"):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True
