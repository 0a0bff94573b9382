"""Fingerprints of everything that changes reference log-probs, computable without building the model.

A :class:`Fingerprint` is the sha256 of a canonical JSON of its components: the reference model's identity, the
dtype it runs in, the tokenizer's identity, the tokenisation settings, a hash of the tokenised dataset and the
cache format version. Two runs whose fingerprints agree would compute the same reference log-probs, so the second
reuses the first one's cache. :func:`cache_fingerprint` gathers the components of a run from its model source,
tokenizer and data settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from prefopt.config import DataConfig, ModelConfig
from prefopt.data.batch import TokenizedExample
from prefopt.reference.batches import unique_examples
from prefopt.reference.memo import FileHashes

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from prefopt.model.hub import HubModel
    from prefopt.model.load import ModelSource

#: Version of the cache file layout; part of every fingerprint, so a new layout never reads an old file.
FORMAT_VERSION = 1

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
# config keys that describe where or with what a model was saved, not what it computes
_VOLATILE_CONFIG_KEYS = {"transformers_version", "dtype", "torch_dtype", "architectures"}


@dataclass(frozen=True)
class Fingerprint:
    """The identity of one reference cache.

    Attributes:
        digest: 64 hex characters, sha256 of the canonical JSON of ``components``; the cache file's name.
        components: what was hashed: ``format_version``, ``model``, ``dtype``, ``tokenizer``, ``settings`` and
            ``dataset`` (``num_examples`` and ``sha256``). JSON-serialisable.
    """

    digest: str
    components: dict[str, Any]

    @classmethod
    def from_components(cls, components: Mapping[str, Any]) -> Fingerprint:
        components = json.loads(_canonical_json(components))
        return cls(digest=hashlib.sha256(_canonical_json(components).encode()).hexdigest(), components=components)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def dtype_name(dtype: str | torch.dtype) -> str:
    """``torch.bfloat16`` or ``"bfloat16"`` -> ``"bfloat16"``; unknown names raise ``ValueError``."""
    name = str(dtype).removeprefix("torch.")
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return name


def dataset_hash(examples: Iterable[TokenizedExample]) -> dict[str, Any]:
    """``{"num_examples": N, "sha256": hex}`` over the sorted set of keys and their prompt and response token ids.

    Ranks are left out: they do not change a response's log-prob (the order of the responses, which does fix a
    value's slot, is hashed).
    """
    digest = hashlib.sha256()
    unique = unique_examples(examples)
    for key, example in unique.items():
        encoded = key.encode()
        digest.update(struct.pack("<q", len(encoded)) + encoded)
        for ids in (example.prompt_ids, *example.response_ids):
            digest.update(struct.pack(f"<q{len(ids)}q", len(ids), *ids))
        digest.update(struct.pack("<q", -1))  # end of example: (prompt, responses) splits are unambiguous
    return {"num_examples": len(unique), "sha256": digest.hexdigest()}


def reference_fingerprint(
    *,
    model_identity: str,
    dtype: str | torch.dtype,
    tokenizer_identity: str,
    settings: Mapping[str, Any],
    examples: Sequence[TokenizedExample],
) -> Fingerprint:
    """Fingerprint of a reference cache, without building the reference model.

    Args:
        model_identity: from :func:`model_identity`.
        dtype: the dtype the reference runs in.
        tokenizer_identity: from :func:`tokenizer_identity`.
        settings: JSON-serialisable tokenisation settings (maximum lengths, truncation policy, chat template
            switches) and anything else that changes the token ids or the numbers.
        examples: the whole tokenised dataset; order and exact duplicates do not matter.
    """
    return Fingerprint.from_components(
        {
            "format_version": FORMAT_VERSION,
            "model": model_identity,
            "dtype": dtype_name(dtype),
            "tokenizer": tokenizer_identity,
            "settings": dict(settings),
            "dataset": dataset_hash(examples),
        }
    )


def model_identity(
    source: str | os.PathLike[str] | Mapping[str, Any] | nn.Module, *, memo: str | os.PathLike[str] | None = None
) -> str:
    """A string that changes whenever the reference model's weights or architecture change.

    Args:
        source: one of
            - a local directory: sha256 over ``config.json`` and every ``*.safetensors`` / ``*.bin`` / ``*.gguf``
              file in it (names and bytes), read once in 1 MiB chunks, no forward pass;
            - a single weight file: sha256 of its bytes;
            - a mapping describing a model built from a config with a seed: sha256 of its canonical JSON (exact
              because such construction is deterministic);
            - an ``nn.Module`` in memory (the fallback): sha256 over its class, config and ``state_dict`` tensors
              (name, dtype, shape, bytes) in sorted name order.
        memo: optional JSON file remembering file hashes by (path, size, mtime_ns), so a later run skips
            rehashing unchanged files. A file rewritten in place with the same size and modification time would
            be missed; pass ``None`` to always rehash.
    """
    if isinstance(source, nn.Module):
        return "module:" + _module_hash(source)
    if isinstance(source, Mapping):
        return "config:" + hashlib.sha256(_canonical_json(source).encode()).hexdigest()
    path = Path(source)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json")
        )
        if not any(p.suffix in WEIGHT_SUFFIXES for p in files):
            raise FileNotFoundError(f"no {'/'.join(WEIGHT_SUFFIXES)} weight files in {path}")
    else:
        raise FileNotFoundError(f"model source {path} does not exist")
    hashes = FileHashes(Path(memo) if memo is not None else None)
    digest = hashlib.sha256()
    for file in files:
        name = file.relative_to(path).as_posix() if path.is_dir() else file.name
        digest.update(f"{name}\0{hashes.sha256(file)}\0".encode())
    hashes.save()
    return "files:" + digest.hexdigest()


def tokenizer_identity(tokenizer: Any) -> str:
    """sha256 over what decides a tokenizer's ids: its class, its full serialisation for fast tokenizers
    (``backend_tokenizer.to_str()``: vocabulary, merges, normaliser, pre-tokeniser, post-processor, added tokens)
    or else its sorted vocabulary, its special tokens with their ids, and its chat template.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    special = {name: str(value) for name, value in tokenizer.special_tokens_map.items()}
    parts = {
        "class": type(tokenizer).__name__,
        "model": backend.to_str() if backend is not None else sorted(tokenizer.get_vocab().items()),
        "special_tokens": special,
        "special_ids": {token: tokenizer.convert_tokens_to_ids(token) for token in sorted(special.values())},
        "chat_template": getattr(tokenizer, "chat_template", None),
    }
    return "tokenizer:" + hashlib.sha256(_canonical_json(parts).encode()).hexdigest()


def source_identity(source: ModelSource, memo: Path | None) -> str:
    """:func:`model_identity` of a model source without loading it: its description for a preset, else its
    weight files (hashes remembered in ``memo``)."""
    if source.description is not None:
        return model_identity(source.description)
    if source.hub is not None:
        return hub_identity(source.hub, memo)
    weights = source.path if source.gguf_file is None else source.path / source.gguf_file
    return model_identity(weights, memo=memo)


def hub_identity(hub: HubModel, memo: Path | None) -> str:
    """A Hub model's identity: its repository, the snapshot commit its revision resolved to and the sha256 of its
    ``config.json`` and of each weight file ``from_pretrained`` loads. A moved revision changes the commit (and so
    the identity); an unchanged one gives the same identity."""
    hashes = FileHashes(memo)
    digest = hashlib.sha256(f"{hub.repo_id}\0{hub.commit}\0".encode())
    for file in (hub.config_file, *hub.weight_files):
        digest.update(f"{file.name}\0{hashes.sha256(file)}\0".encode())
    hashes.save()
    return f"hub:{hub.repo_id}@{hub.commit}:" + digest.hexdigest()


def tokenisation_settings(data: DataConfig) -> dict[str, Any]:
    """The data settings that change the token ids of a run's examples (the ``settings`` component)."""
    return {"max_length": data.max_length, "max_prompt_length": data.max_prompt_length, "on_overflow": data.on_overflow}


def cache_fingerprint(
    source: ModelSource,
    dtype: str,
    tokenizer: PreTrainedTokenizerBase,
    data: DataConfig,
    examples: Sequence[TokenizedExample],
    *,
    memo: Path | None,
    forward: ModelConfig | None = None,
) -> Fingerprint:
    """Everything that changes the reference log-probs of a run's ``examples``: the reference model ``source``
    run in ``dtype``, the tokenizer, the tokenisation settings of ``data`` and how the forward pass is laid out
    (:func:`forward_settings` of ``forward``, default settings when None)."""
    return reference_fingerprint(
        model_identity=source_identity(source, memo),
        dtype=dtype,
        tokenizer_identity=tokenizer_identity(tokenizer),
        settings={**tokenisation_settings(data), **forward_settings(forward or ModelConfig())},
        examples=examples,
    )


def forward_settings(model: ModelConfig) -> dict[str, Any]:
    """The settings of the forward pass's layout: packed or padded rows, the packing budget and the chunked head.
    Each changes the log-probs by float rounding only, so each has its own cache and a run reproduces its cached
    values bit for bit."""
    return {
        "packed_forward": model.packed_forward,
        "pack_tokens": model.pack_tokens,
        "chunked_head": model.chunked_head,
        "head_chunk_positions": model.head_chunk_positions,
    }


def _module_hash(module: nn.Module) -> str:
    digest = hashlib.sha256(type(module).__name__.encode())
    config = getattr(module, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        kept = {k: v for k, v in config.to_dict().items() if not k.startswith("_") and k not in _VOLATILE_CONFIG_KEYS}
        digest.update(_canonical_json(kept).encode())
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
