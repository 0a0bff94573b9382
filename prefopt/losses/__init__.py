"""The loss registry and the built-in objectives (each built-in is declared as an entry point).

``declare`` (options, declarations, ``define_loss``), ``catalogue`` (the registry, look-up, listing), ``bound``
(a loss bound to its options), ``weighted`` (weighted sums, the configured loss); one module per objective.
"""

from prefopt.losses.bound import Loss, LossContractError, NonFiniteLossError, ScoresError
from prefopt.losses.catalogue import (
    LossInfo,
    LossProblem,
    get_loss,
    list_losses,
    loss_problems,
    register_loss,
    registry,
)
from prefopt.losses.declare import (
    Declarations,
    LossDefinition,
    LossOptions,
    LossOptionsError,
    TrainingLoss,
    define_loss,
)
from prefopt.losses.weighted import WeightedLoss, build_loss

__all__ = [
    "Declarations",
    "Loss",
    "LossContractError",
    "LossDefinition",
    "LossInfo",
    "LossOptions",
    "LossOptionsError",
    "LossProblem",
    "NonFiniteLossError",
    "ScoresError",
    "TrainingLoss",
    "WeightedLoss",
    "build_loss",
    "define_loss",
    "get_loss",
    "list_losses",
    "loss_problems",
    "register_loss",
    "registry",
]
