"""Models and tokenizers: local Hugging Face checkpoints (GGUF too), Hub ids, or small built-in presets.

A model is a local path; else a Hugging Face Hub id resolved by transformers (:mod:`prefopt.model.hub`: the
cache first, the Hub only when online); else a preset architecture built from a config with a seed and paired
with a tokenizer made in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from prefopt import quickstart
from prefopt.config import ConfigError, ModelConfig
from prefopt.hub_names import is_hub_id
from prefopt.model.hub import HubModel, HubModelError, resolve_hub_model, where_looked
from prefopt.model.vector_math import settle_vector_math

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
    "small": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8},
}

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

EXPECTED_MODEL = "expected a Hugging Face model directory (with config.json) or a .gguf file"
EXPECTED_HUB = "or a Hugging Face Hub id such as org/name"
_GGUF_MAGIC = b"GGUF"
#: Files of which a model directory holds at least one when it brings its tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


class ModelPathError(ValueError):
    """A model path that does not exist, is no model, or whose model or tokenizer cannot be loaded."""


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """One token per UTF-8 byte (plus special tokens): covers any text, needs no training."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS.values(), *sorted(alphabet)])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return _wrap(tokenizer)


def quickstart_tokenizer() -> PreTrainedTokenizerFast:
    """One token per word of the quickstart task's vocabulary (see :mod:`prefopt.quickstart`)."""
    words = [*SPECIAL_TOKENS.values(), *quickstart.vocabulary()]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return _wrap(tokenizer)


BUILTIN_TOKENIZERS = {"bytes": byte_tokenizer, "quickstart": quickstart_tokenizer}


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a local path (with an optional GGUF file), a Hub snapshot or a preset description.

    ``description`` identifies preset models exactly (the architecture and the initialisation seed), so a
    fingerprint of it is as good as a hash of the weights. ``hub`` is set (and ``path`` None) for a Hub id.
    """

    path: Path | None
    gguf_file: str | None
    description: dict[str, Any] | None
    hub: HubModel | None = None


def resolve_source(
    path: str | None,
    config: ModelConfig,
    vocab_size: int,
    seed: int,
    setting: str = "model.path",
    revision: str | None = None,
) -> ModelSource:
    """The source of the model at ``path`` (the ``setting`` that names it, for messages), or of the preset of
    ``config`` built with ``seed`` when ``path`` is None. A ``path`` that is no local file or directory but is
    spelt like a Hub id is resolved at ``revision`` (None: ``main``) through the Hugging Face cache and Hub.

    Raises :class:`ModelPathError` if ``path`` does not exist locally and not on the Hub (or in its cache), is a
    directory without ``config.json`` or a file that is not GGUF; :class:`ConfigError` for a revision given with
    a local path.
    """
    if path is None:
        arch = {**PRESETS[config.preset], "vocab_size": vocab_size}
        return ModelSource(
            None, None, {"preset": config.preset, "tokenizer": config.tokenizer, "arch": arch, "seed": seed}
        )
    location = Path(path).expanduser()
    if not location.exists() and is_hub_id(path):
        return _hub_source(path, revision, setting, location)
    if revision is not None:
        raise ConfigError(
            f"{_revision_setting(setting)}={revision} applies to a Hub id; {setting} {path} is a local path"
        )
    if not location.exists():
        raise ModelPathError(f"{setting} {location} does not exist; {EXPECTED_MODEL}, {EXPECTED_HUB}")
    if location.is_dir():
        if not (location / "config.json").is_file():
            raise ModelPathError(f"{setting} {location} is a directory without config.json; {EXPECTED_MODEL}")
        return ModelSource(location, None, None)
    if location.suffix != ".gguf" or not _starts_with_gguf_magic(location):
        raise ModelPathError(f"{setting} {location} is a file but not a GGUF file; {EXPECTED_MODEL}")
    return ModelSource(location.parent, location.name, None)


def _revision_setting(setting: str) -> str:
    return "model.revision" if setting == "model.path" else "model.reference_revision"


def _hub_source(repo_id: str, revision: str | None, setting: str, location: Path) -> ModelSource:
    try:
        return ModelSource(None, None, None, hub=resolve_hub_model(repo_id, revision))
    except HubModelError as error:
        raise ModelPathError(
            f"{setting} {repo_id} resolves to nothing: no local path {location.absolute()}; as a Hub id, {error}"
        ) from None


def _starts_with_gguf_magic(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_GGUF_MAGIC)) == _GGUF_MAGIC
    except OSError as error:
        raise ModelPathError(f"cannot read {path}: {error.strerror}") from None


def load_tokenizer(config: ModelConfig) -> PreTrainedTokenizerBase:
    """The tokenizer of ``config.path``, or the built-in one named by ``config.tokenizer`` for presets."""
    if config.path is None:
        return BUILTIN_TOKENIZERS[config.tokenizer]()
    source = resolve_source(config.path, config, 0, 0, revision=config.revision)
    if source.hub is not None:
        return _with_padding(_hub_tokenizer(source.hub, config.path))
    if source.gguf_file is None and not any((source.path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelPathError(
            f"model.path {source.path} has no tokenizer: a model directory needs its tokenizer files "
            f"(one of {', '.join(TOKENIZER_FILES)}) beside config.json"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    except (OSError, ValueError) as error:
        raise ModelPathError(f"model.path {config.path}: cannot load its tokenizer: {_one_line(error)}") from None
    return _with_padding(tokenizer)


def _hub_tokenizer(hub: HubModel, path: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(hub.repo_id, revision=hub.commit)
    except (OSError, ValueError) as error:
        raise ModelPathError(
            f"model.path {path} (commit {hub.commit}): cannot load its tokenizer ({where_looked()}): "
            f"{_one_line(error)}"
        ) from None


def _with_padding(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(source: ModelSource, dtype: str) -> PreTrainedModel:
    """Instantiate the model of ``source`` in ``dtype`` on the CPU (after :func:`settle_vector_math`, so that its
    first forward pass computes as every later one)."""
    settle_vector_math()
    torch_dtype = DTYPES[dtype]
    if source.description is not None:
        architecture = source.description["arch"]
        config = LlamaConfig(
            **architecture,
            num_key_value_heads=architecture["num_attention_heads"],
            max_position_embeddings=2048,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            tie_word_embeddings=True,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(source.description["seed"])
            model = LlamaForCausalLM(config)
        return model.to(torch_dtype)
    if source.hub is not None:
        return _hub_model(source.hub, torch_dtype)
    location = source.path if source.gguf_file is None else source.path / source.gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file, dtype=torch_dtype)
    except (OSError, ValueError) as error:
        raise ModelPathError(f"cannot load a causal LM from {location}: {_one_line(error)}") from None
    if source.gguf_file is not None:
        # transformers dequantises GGUF weights on load but keeps the model marked as quantized, which makes
        # save_pretrained refuse it; the weights are plain tensors of ``dtype``, saved as any model's
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def _hub_model(hub: HubModel, torch_dtype: torch.dtype) -> PreTrainedModel:
    try:
        return AutoModelForCausalLM.from_pretrained(hub.repo_id, revision=hub.commit, dtype=torch_dtype)
    except (OSError, ValueError) as error:
        raise ModelPathError(
            f"cannot load a causal LM from {hub.repo_id} (commit {hub.commit}; {where_looked()}): {_one_line(error)}"
        ) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
