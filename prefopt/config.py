"""The run configuration: one pydantic model, loaded from YAML with ``key=value`` overrides.

Defaults follow the DPO paper (App. B): RMSprop, learning rate 1e-6, linear warm-up over 150 steps, beta 0.1,
batch 64. Unknown keys, invalid values, a key given twice in one mapping and non-finite numbers (``.inf``,
``.nan``, ``1e400``) anywhere, loss options included, are errors that name the key. Options of a loss belong to
the loss named beside them: an override of ``loss.name`` to another loss drops the options the file gave for the
one it named.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

DEFAULT_MAX_RECORD_BYTES = 10_000_000


#: The record shapes of prefopt.data.records, which ``data.format`` names (besides ``auto``).
RECORD_FORMATS = ("pairwise", "ranked", "scored", "hh")

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class LoraConfig(_Section):
    r: int = Field(8, gt=0, description="adapter rank")
    alpha: float = Field(16.0, gt=0, description="adapter scaling numerator")
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str = Field("all-linear", description="module names to adapt, or 'all-linear'")


class ModelConfig(_Section):
    path: str | None = Field(
        None, description="local model directory, a .gguf file or a Hugging Face Hub id (org/name); None builds `preset`"
    )
    revision: str | None = Field(None, description="branch, tag or commit of a Hub id in `path`; None: main")
    preset: Literal["tiny", "small"] = Field("tiny", description="built-in architecture used when path is None")
    tokenizer: Literal["bytes", "quickstart"] = Field(
        "bytes", description="for presets: 'bytes' (any text) or 'quickstart' (its vocabulary)"
    )
    reference_path: str | None = Field(None, description="reference model; None: the policy's initial weights")
    reference_revision: str | None = Field(None, description="branch, tag or commit of a Hub id in `reference_path`")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False
    packed_forward: bool = Field(
        True,
        description="each prompt computed once for its responses, several examples per row (4D attention mask), "
        "where the model takes such masks; False: one padded row per (prompt, response)",
    )
    pack_tokens: int | None = Field(None, gt=0, description="token budget of a packed row; None: the longest example")
    chunked_head: bool | Literal["auto"] = Field("auto", description="head in chunks of positions (no full logits)")
    head_chunk_positions: int = Field(1024, gt=0, description="positions per chunk of the chunked head")
    lora: LoraConfig | None = Field(None, description="train LoRA adapters (needs peft); reference = adapters off")


class DataConfig(_Section):
    path: str | None = Field(
        None,
        description="preference file or directory, save_to_disk directory or Hub dataset id; None: the quickstart data",
    )
    subset: str | None = Field(None, description="configuration (`name`) of a dataset read with load_dataset")
    data_dir: str | None = Field(None, description="folder of a dataset repository read with load_dataset")
    split: str | None = Field(None, description="split of a Hub or save_to_disk dataset; None: its only split")
    format: Literal[("auto", *RECORD_FORMATS)] = "auto"
    eval_path: str | None = Field(None, description="held-out file or dataset; None: eval_split, or eval_fraction")
    eval_split: str | None = Field(None, description="held-out split of `eval_path`, else of `path`")
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    on_error: Literal["raise", "skip"] = Field("raise", description="stop on the first bad row, or skip and report")
    max_length: int = Field(512, gt=1, description="tokens of prompt + response")
    max_prompt_length: int = Field(256, gt=0, description="tokens a prompt is cut to; below max_length")
    on_overflow: Literal["truncate", "drop"] = Field("truncate", description="over-long examples")
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES, gt=0, description="size of one record beyond which it is a bad row (on_error)"
    )
    quickstart_size: int = Field(2400, ge=20, description="examples generated when path is None")

    @model_validator(mode="after")
    def _check_dataset_settings(self) -> DataConfig:
        given = [key for key in ("subset", "data_dir", "split", "eval_split") if getattr(self, key) is not None]
        if self.path is None and given:
            raise ValueError(f"{', '.join(given)} name part of a dataset; set data.path to the dataset")
        return self

    @model_validator(mode="after")
    def _check_lengths(self) -> DataConfig:
        if self.max_prompt_length >= self.max_length:
            raise PydanticCustomError(
                "prompt_length",
                "data.max_prompt_length ({prompt}) must be below data.max_length ({total}), which counts the "
                "prompt and a response together",
                {"prompt": self.max_prompt_length, "total": self.max_length},
            )
        return self


class OptimConfig(_Section):
    optimizer: Literal["rmsprop", "adamw"] = "rmsprop"
    lr: float = Field(1e-6, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine"] = Field("constant", description="after the linear warm-up")
    warmup_steps: int = Field(150, ge=0)
    batch_size: int = Field(64, gt=0, description="prompts per optimizer step, over all processes")
    micro_batch_size: int = Field(8, gt=0, description="prompts per forward pass and process")
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="overrides epochs")
    max_grad_norm: float | None = Field(10.0, gt=0)
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"


CACHE_DIR_VARIABLE = "PREFOPT_CACHE_DIR"
DEFAULT_CACHE_DIR = "~/.cache/prefopt/reference"


def default_cache_dir() -> str:
    """``$PREFOPT_CACHE_DIR`` when set, else ``~/.cache/prefopt/reference``: the one default of every command."""
    return os.environ.get(CACHE_DIR_VARIABLE) or DEFAULT_CACHE_DIR


class ReferenceConfig(_Section):
    cache: bool = Field(True, description="precompute reference log-probs once; False keeps a live reference model")
    cache_dir: str = Field(default_factory=default_cache_dir, description="where reference caches live")
    batch_size: int = Field(16, gt=0, description="prompts per forward pass while building the cache")


def default_output_dir(data_path: str | None) -> str:
    """``runs/<folder>-<name>`` of the data file (its name without extensions, after the name of the folder it
    is given in, if any): ``hh-rlhf/helpful-base/test.jsonl.gz`` -> ``runs/helpful-base-test``; ``runs/prefopt``
    without a data file (the quickstart configuration names its own, ``runs/quickstart``)."""
    if data_path is None:
        return "runs/prefopt"
    path = PurePath(data_path.rstrip("/\\") or data_path)
    name = path.name.split(".")[0] or path.name
    folder = path.parent.name
    return str(PurePath("runs") / (f"{folder}-{name}" if folder and folder != ".." else name))


class LoggingConfig(_Section):
    output_dir: str | None = Field(None, description="None: runs/<data folder>-<data name>, or runs/prefopt")
    log_every: int = Field(10, gt=0)
    eval_every: int = Field(50, ge=0, description="0: evaluate only at the start and the end")
    save_every: int = Field(0, ge=0, description="checkpoint interval in steps; 0: only the final save")
    keep_checkpoints: int | None = Field(None, ge=1, description="keep the newest N checkpoints; None: all")
    tensorboard: bool = False
    plots: bool | Literal["auto"] = Field(
        False, description="PNG curves in <output_dir>/plots at the end (prefopt[plot]); auto: if matplotlib is there"
    )
    progress: bool = True


LossSpec = str | dict[str, Any] | list[dict[str, Any]]


class RunConfig(_Section):
    seed: int = 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    loss: LossSpec = Field(
        default_factory=lambda: {"name": "dpo"},
        description="a loss name, {name, pairs, **options}, or a list of such entries each with a weight",
    )
    optim: OptimConfig = Field(default_factory=OptimConfig)
    reference: ReferenceConfig = Field(default_factory=ReferenceConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("loss")
    @classmethod
    def _check_finite_loss_options(cls, loss: LossSpec) -> LossSpec:
        for where, value in _numbers(loss, ""):
            if not math.isfinite(value):
                raise PydanticCustomError(
                    "finite_number", "{key} must be a finite number; got {value}", {"key": where, "value": value}
                )
        return loss

    @model_validator(mode="after")
    def _check_batch(self) -> RunConfig:
        if self.optim.batch_size % self.optim.micro_batch_size:
            raise ValueError(
                f"optim.batch_size ({self.optim.batch_size}) must be a multiple of "
                f"optim.micro_batch_size ({self.optim.micro_batch_size})"
            )
        return self

    @model_validator(mode="after")
    def _resolve_output_dir(self) -> RunConfig:
        if self.logging.output_dir is None:
            self.logging.output_dir = default_output_dir(self.data.path)
        return self


def _numbers(value: Any, where: str):
    """``(dotted place, number)`` for every float within ``value`` (mappings and lists of a loss spec), and
    every text that reads as one (``"inf"``), as the options model of a loss would read it."""
    if isinstance(value, float):
        yield where, value
    elif isinstance(value, str):
        try:
            yield where, float(value)
        except ValueError:
            pass
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _numbers(child, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _numbers(child, f"{where}[{index}]")


class ConfigError(ValueError):
    """A configuration file or override that does not fit :class:`RunConfig`."""


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(key)
        self.key = key
        same = first.line == second.line
        self.place = f"line {first.line + 1}" if same else f"lines {first.line + 1} and {second.line + 1}"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as ``yaml.safe_load`` reads it, except that numbers with an exponent and no dot or no exponent
    sign (``1e-5``, ``1e400``, ``1.0e400``) are numbers, as in YAML 1.2, not text."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _load_yaml(text: str, where: str, key: str = "") -> Any:
    """``text`` read as YAML, refusing a key given twice in one mapping (YAML would keep the last silently).

    Raises:
        ConfigError: ``text`` is not YAML, or gives a key twice; the message starts with ``where`` and names
            the line and, for a key given twice, the dotted key (under ``key``, the place of ``text``).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique_keys(node, key, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(f"{where}: not valid YAML: {_one_line(error)}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML: {error}") from None
    except _DuplicateKey as duplicate:
        raise ConfigError(f"{where}: key {duplicate.key!r} is given twice ({duplicate.place}); give each key once") from None
    finally:
        loader.dispose()


def _one_line(error: yaml.MarkedYAMLError) -> str:
    """A YAML error on one line: the problem, where it is, and what was being read."""
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = f" ({error.context})" if error.context else ""
    return f"{error.problem or error.context}{where}{context}"


def _check_unique_keys(node: yaml.Node, path: str, seen: set[int]) -> None:
    """Raise :class:`_DuplicateKey` for the first key given twice in a mapping of ``node`` (merge keys aside)."""
    if id(node) in seen:  # an alias of a node already checked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        marks: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value)
            dotted = f"{path}.{key}" if path else key
            if key in marks:
                raise _DuplicateKey(dotted, marks[key], key_node.start_mark)
            marks[key] = key_node.start_mark
            _check_unique_keys(value_node, dotted, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_unique_keys(item, f"{path}[{index}]", seen)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {'.'.join(parents[: i + 1])} is not a section")
        node = child
    node[leaf] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """``["optim.lr=1e-5", "loss.beta=0.5"]`` -> ``[("optim.lr", 1e-05), ("loss.beta", 0.5)]`` (values as YAML).

    Raises:
        ConfigError: an item that is not ``key=value``, or whose value is not YAML or gives a key twice.
    """
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        parsed.append((key.strip(), _load_yaml(raw, f"override {item!r}", key.strip()) if raw.strip() else None))
    return parsed


def format_errors(error: ValidationError, source: str) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"] if not str(p).startswith("function-after")) or "(top level)"
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"  {where}: {message}")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML configuration file holds (empty for an empty file), read as every configuration is:
    a key given twice is refused, numbers such as ``1e-5`` are numbers.

    Raises:
        ConfigError: the file cannot be read, is not YAML, gives a key twice or is not a mapping.
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"cannot read configuration {path}: {error}") from None
    loaded = _load_yaml(text, f"configuration {path}")
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"configuration {path} must be a mapping at the top level")
    return loaded or {}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read ``path`` (YAML; None: all defaults), apply ``key=value`` overrides, validate.

    Raises:
        ConfigError: unreadable YAML, a key given twice, unknown keys or invalid values; the message names
            each key.
    """
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source, tree = str(path), read_config_file(path)
    apply_overrides(tree, overrides or [])
    if overrides:
        source += " + overrides"
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(format_errors(error, source)) from None


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> None:
    """Set each ``key=value`` of ``overrides`` in the nested settings ``tree`` of a :class:`RunConfig`.

    Raises:
        ConfigError: an override not of the form key=value, or one that sets a key below a plain value.
    """
    # a new loss name first: options given on the command line then belong to the loss it names
    for key, value in sorted(parse_overrides(overrides), key=lambda item: item[0] != "loss.name"):
        if key.startswith("loss."):  # options of a loss given by name alone live in a mapping
            loss = tree.get("loss", RunConfig().loss)
            tree["loss"] = {"name": loss} if isinstance(loss, str) else loss
        if key == "loss.name" and isinstance(tree["loss"], dict) and tree["loss"].get("name") != value:
            tree["loss"] = {}  # the file's options were for the loss it named
        _set_dotted(tree, key, value)


def dump_config(config: RunConfig) -> str:
    """The resolved configuration as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def as_config(config: RunConfig | Mapping[str, Any] | str | Path) -> RunConfig:
    """A :class:`RunConfig` from one, from a nested mapping of settings, or from a YAML file's path.

    Raises:
        ConfigError: as :func:`load_config`; the message names each key.
    """
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"a configuration is a RunConfig, a mapping or a YAML path; got {type(config).__name__}")
    try:
        return RunConfig.model_validate(dict(config))
    except ValidationError as error:
        raise ConfigError(format_errors(error, "mapping")) from None
