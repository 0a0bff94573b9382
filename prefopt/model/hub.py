"""Models named by their Hugging Face Hub id (``org/name`` with a revision), resolved by transformers itself.

Resolution goes through ``transformers.utils.hub.cached_file``, so the Hugging Face cache (``HF_HOME``,
``HF_HUB_CACHE``), ``HF_HUB_OFFLINE`` and access tokens behave as in any transformers program: a warm cache
serves offline, a cold one downloads when the Hub can be reached. A revision (branch, tag or commit) is resolved
to its snapshot commit; the model and the reference cache's fingerprint share one resolution, so they agree even
if the branch moves while a run starts. The tokenizer is loaded from a resolution of its own, made just before
(a branch that moves between the two gives a tokenizer of the earlier commit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants
from transformers.utils.hub import cached_file, extract_commit_hash

#: Weight files in the order transformers' ``from_pretrained`` prefers them (single file, then sharded index).
WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class HubModelError(ValueError):
    """A Hub id whose revision, configuration or weights cannot be resolved."""


@dataclass(frozen=True)
class HubModel:
    """A model of the Hub, resolved to one snapshot.

    Attributes:
        repo_id: ``org/name`` as the user gave it.
        revision: the revision asked for (``main`` when none was).
        commit: the 40-hex commit the revision pointed to when resolved.
        config_file: the snapshot's ``config.json`` in the local cache.
        weight_files: the weight files ``from_pretrained`` loads (the shards of a sharded checkpoint), local paths.
    """

    repo_id: str
    revision: str
    commit: str
    config_file: Path
    weight_files: tuple[Path, ...]


def where_looked() -> str:
    """The cache searched and whether the Hub was asked too, for messages."""
    online = "the Hub is offline (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "the Hub was asked too"
    return f"the Hugging Face cache {constants.HF_HUB_CACHE}; {online}"


def resolve_hub_model(repo_id: str, revision: str | None) -> HubModel:
    """Resolve ``repo_id`` at ``revision`` to its snapshot commit, its config and the weight files to load,
    downloading what the cache lacks unless the Hub is offline.

    Raises:
        HubModelError: the repository, revision or a needed file cannot be found; the message names the cache
            searched and whether the Hub was asked.
    """
    asked = revision or "main"
    config = _cached(repo_id, "config.json", asked, required=True)
    commit = extract_commit_hash(str(config), None)
    if commit is None:
        raise HubModelError(f"revision {asked} gave {config}, which lies in no Hub snapshot; cannot pin a commit")
    weights = _weight_files(repo_id, commit)
    return HubModel(repo_id, asked, commit, config, weights)


def _weight_files(repo_id: str, commit: str) -> tuple[Path, ...]:
    for name in WEIGHT_NAMES:
        found = _cached(repo_id, name, commit, required=False)
        if found is None:
            continue
        if not name.endswith(".index.json"):
            return (found,)
        try:
            shards = sorted(set(json.loads(found.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as error:
            raise HubModelError(f"{name} of commit {commit} lists no shards ({type(error).__name__}: {error})") from None
        return tuple(_cached(repo_id, shard, commit, required=True) for shard in shards)
    raise HubModelError(f"commit {commit} has none of the weight files {', '.join(WEIGHT_NAMES)}")


def _cached(repo_id: str, name: str, revision: str, *, required: bool) -> Path | None:
    try:
        found = cached_file(
            repo_id,
            name,
            revision=revision,
            _raise_exceptions_for_missing_entries=required,
            _raise_exceptions_for_connection_errors=required,
        )
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise HubModelError(f"no {name} at revision {revision} in {where_looked()}: {reason}") from None
    return Path(found) if found is not None else None
