"""The loss registry and the built-in objectives (each built-in is declared as an entry point)."""

from prefopt.losses.api import (
    Declarations,
    Loss,
    LossDefinition,
    LossInfo,
    LossOptions,
    LossOptionsError,
    LossProblem,
    ScoresError,
    WeightedLoss,
    build_loss,
    define_loss,
    get_loss,
    list_losses,
    loss_problems,
    register_loss,
    registry,
)

__all__ = [
    "Declarations",
    "Loss",
    "LossDefinition",
    "LossInfo",
    "LossOptions",
    "LossOptionsError",
    "LossProblem",
    "ScoresError",
    "WeightedLoss",
    "build_loss",
    "define_loss",
    "get_loss",
    "list_losses",
    "loss_problems",
    "register_loss",
    "registry",
]
