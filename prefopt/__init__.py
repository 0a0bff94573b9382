"""prefopt: train causal language models from human preferences without reinforcement learning."""

from prefopt.losses import (
    Declarations,
    Loss,
    LossDefinition,
    LossOptions,
    WeightedLoss,
    build_loss,
    define_loss,
    get_loss,
    list_losses,
    register_loss,
)
from prefopt.types import LossOutput, RankedExample, Scores

__version__ = "0.1.0"

# the training API loads torch's model stack (transformers, accelerate): only when first used
_API_NAMES = ("RunResult", "StepEnd", "build_caches", "evaluate", "train")


def __getattr__(name: str):
    if name in _API_NAMES:
        from prefopt import api

        return getattr(api, name)
    if name in ("rounds", "RoundsResult"):
        from prefopt import iterative

        return getattr(iterative, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Declarations",
    "Loss",
    "LossDefinition",
    "LossOptions",
    "LossOutput",
    "RankedExample",
    "RoundsResult",
    "RunResult",
    "Scores",
    "StepEnd",
    "WeightedLoss",
    "build_caches",
    "build_loss",
    "define_loss",
    "evaluate",
    "get_loss",
    "list_losses",
    "register_loss",
    "rounds",
    "train",
]
