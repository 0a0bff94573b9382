"""What an evaluation compares against: for a model that prefopt trained, read from the ``prefopt.yaml`` that
training recorded beside it.

A prefopt-trained ``final/`` directory records the run's resolved configuration. Its reference, unless the
configuration names one (``model.reference_path``), is the model the run was trained against: the recorded
``model.reference_path``, else the run's initial model (the recorded ``model.path``, or the preset built with the
recorded seed).
"""

from __future__ import annotations

from dataclasses import dataclass

from prefopt.config import ConfigError, RunConfig, load_config
from prefopt.run.directory import CONFIG_FILE, recorded_config_file


@dataclass(frozen=True)
class EvaluationSetup:
    """Attributes:
    config: the evaluation's configuration (``model.path`` is the model evaluated).
    reference: the configuration whose model section and seed name the reference
        (:func:`prefopt.reference.reference_source` of it), or ``None`` when no reference is known.
    lines: where the settings and the reference come from, to print.
    """

    config: RunConfig
    reference: RunConfig | None
    lines: list[str]


def evaluation_reference(config: RunConfig, lines: list[str] | None = None) -> EvaluationSetup:
    """The reference of evaluating ``config.model.path`` (see the module docstring), with ``lines`` saying where
    the settings came from.

    Raises:
        ConfigError: an invalid recorded ``prefopt.yaml``.
    """
    lines = list(lines or [])
    recorded_file = recorded_config_file(config.model.path)
    if recorded_file is None:
        if config.model.reference_path is None:
            return EvaluationSetup(config, None, lines)
        lines.append(f"reference: {config.model.reference_path} (model.reference_path)")
        return EvaluationSetup(config, config, lines)
    recorded = load_config(recorded_file)
    origin = f"recorded in {recorded_file}"
    if config.model.reference_path is not None:
        told = "" if config.model.reference_path == recorded.model.reference_path else ", from the command line"
        lines.append(f"reference: {config.model.reference_path} (model.reference_path{told})")
        return EvaluationSetup(config, config, lines)
    recorded_path = recorded.model.reference_path or recorded.model.path
    if recorded_path is not None:
        which = "model.reference_path" if recorded.model.reference_path else "the initial model.path"
        lines.append(f"reference: {recorded_path} ({which} {origin})")
        revision = recorded.model.reference_revision if recorded.model.reference_path else recorded.model.revision
        model = config.model.model_copy(update={"reference_path": recorded_path, "reference_revision": revision})
        return EvaluationSetup(config, config.model_copy(update={"model": model}), lines)
    preset = recorded.model.model_copy(update={"dtype": config.model.dtype})
    lines.append(
        f"reference: preset {preset.preset} (tokenizer {preset.tokenizer}) built with seed {recorded.seed} "
        f"(the initial model {origin})"
    )
    return EvaluationSetup(config, config.model_copy(update={"model": preset, "seed": recorded.seed}), lines)


def require_reference(setup: EvaluationSetup, loss_name: str) -> RunConfig:
    """The reference configuration of ``setup``; a :class:`ConfigError` if ``loss_name`` needs one and none is
    known."""
    if setup.reference is None:
        raise ConfigError(
            f"loss {loss_name!r} compares the model with a reference; set model.reference_path (a model that "
            f"prefopt trained names its own in its {CONFIG_FILE})"
        )
    return setup.reference
