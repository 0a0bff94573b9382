"""The configuration of training in rounds: one pydantic model, loaded from YAML with ``key=value`` overrides.

Its ``train`` section is a whole :class:`~prefopt.config.RunConfig`: the settings of every round's training (the
starting model in ``train.model``, the loss, the optimizer, the number of steps). The rounds set two of its
keys: ``train.logging.output_dir`` (each round trains in ``OUT/round-NN/train``) and ``train.model.reference_path``
(from ``reference``), which is therefore refused. Unknown keys and invalid values are errors that name the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prefopt.config import ConfigError, RunConfig, apply_overrides, format_errors, parse_overrides, read_config_file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ScorerSpec(_Section):
    name: str = Field("vader", description="a registered scorer (prefopt scorers lists them)")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the scorer's factory")


class PromptsConfig(_Section):
    path: str = Field(..., description="file or directory of files, save_to_disk directory or Hub dataset id")
    field: str = Field("prompt", description="the column holding each prompt (a text or a list of chat messages)")
    split: str | None = Field(None, description="split of a Hub or save_to_disk dataset; None: its only split")
    per_round: int | None = Field(None, gt=0, description="training prompts per round; None: the whole pool")
    pool: Literal["reuse", "fresh"] = Field(
        "reuse", description="reuse: the same prompts every round; fresh: a new disjoint slice per round"
    )
    eval_path: str | None = Field(None, description="held-out prompts (same field and split); None: eval_fraction")
    eval_fraction: float = Field(0.1, ge=0, lt=1, description="share of `path` held out when no eval_path")


class RoundsConfig(_Section):
    train: RunConfig = Field(default_factory=RunConfig, description="the settings of each round's training")
    rounds: int = Field(3, gt=0)
    k: int = Field(4, ge=2, description="responses sampled per prompt")
    max_new_tokens: int = Field(48, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass; 1: off")
    sampling_batch_size: int = Field(16, gt=0, description="sequences per generate call")
    scorer: ScorerSpec = Field(default_factory=ScorerSpec)
    prompts: PromptsConfig
    reference: Literal["fixed", "moving"] = Field(
        "fixed", description="fixed: the starting model every round; moving: the policy the round starts from"
    )
    samples_from: Literal["policy", "start"] = Field(
        "policy",
        description="policy: each round samples the policy it starts from (on-policy); start: every round samples "
        "the starting model (rounds on offline data, the ablation of on-policy sampling)",
    )
    seed: int = Field(0, description="prompt split and sampling")
    output_dir: str = "runs/rounds"

    @model_validator(mode="before")
    @classmethod
    def _refuse_reference_path(cls, tree: Any) -> Any:
        train = tree.get("train") if isinstance(tree, dict) else None
        model = train.get("model") if isinstance(train, dict) else None
        if isinstance(model, dict) and model.get("reference_path") is not None:
            raise ValueError(
                "train.model.reference_path is set by the rounds: `reference: fixed` compares with the starting "
                "model, `reference: moving` with the policy each round starts from; remove it"
            )
        return tree


def load_rounds_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RoundsConfig:
    """Read ``path`` (YAML; None: only the overrides), apply ``key=value`` overrides (``train.*`` as those of a
    run configuration, e.g. ``train.loss.name=ipo``), validate.

    Raises:
        ConfigError: unreadable YAML, unknown keys or invalid values; the message names each key.
    """
    tree: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        source, tree = str(path), read_config_file(path)
        if overrides:
            source += " + overrides"
    items = overrides or []
    parse_overrides(items)  # a malformed override is an error before any is applied
    train_items = [item.removeprefix("train.") for item in items if item.startswith("train.")]
    if train_items:
        if not isinstance(tree.setdefault("train", {}), dict):
            raise ConfigError("override train.*: train is not a section")
        apply_overrides(tree["train"], train_items)
    apply_overrides(tree, [item for item in items if not item.startswith("train.")])
    return _validated(tree, source)


def as_rounds_config(config: RoundsConfig | Mapping[str, Any] | str | Path) -> RoundsConfig:
    """A :class:`RoundsConfig` from one, from a nested mapping of settings, or from a YAML file's path.

    Raises:
        ConfigError: as :func:`load_rounds_config`.
    """
    if isinstance(config, RoundsConfig):
        return config
    if isinstance(config, str | Path):
        return load_rounds_config(config)
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"a rounds configuration is a RoundsConfig, a mapping or a YAML path; got {type(config).__name__}"
        )
    return _validated(dict(config), "mapping")


def _validated(tree: dict[str, Any], source: str) -> RoundsConfig:
    try:
        return RoundsConfig.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(
            format_errors(error, source).replace("invalid configuration", "invalid rounds configuration")
        ) from None


def dump_rounds_config(config: RoundsConfig) -> str:
    """The resolved configuration as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
