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

__all__ = [
    "Declarations",
    "Loss",
    "LossDefinition",
    "LossOptions",
    "LossOutput",
    "RankedExample",
    "Scores",
    "WeightedLoss",
    "build_loss",
    "define_loss",
    "get_loss",
    "list_losses",
    "register_loss",
]
