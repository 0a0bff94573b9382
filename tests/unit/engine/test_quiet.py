"""Only the known-harmless shared-tensor warning is dropped: tensors tied by the model's configuration."""

import logging

from torch import nn

from prefopt.engine.quiet import tied_weight_warning_silenced
from tests.conftest import make_tiny_llama

WARNING = "[RANK 0] Removed shared tensor {names} while saving. This should be OK, but check ..."


def _warn(names):
    logging.getLogger("accelerate.utils.other").warning(WARNING.format(names=names))


def test_only_tensors_tied_by_the_configuration_are_silenced(caplog):
    with tied_weight_warning_silenced(make_tiny_llama(tied=True)):
        _warn({"lm_head.weight"})
        _warn({"model.layers.0.mlp.up_proj.weight"})
    with tied_weight_warning_silenced(nn.Linear(2, 2)):
        _warn({"lm_head.weight"})
    _warn({"lm_head.weight"})  # outside the block
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        WARNING.format(names=names)
        for names in ({"model.layers.0.mlp.up_proj.weight"}, {"lm_head.weight"}, {"lm_head.weight"})
    ]
