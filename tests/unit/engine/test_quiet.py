"""Only the known-harmless shared-tensor warning is dropped: tensors tied by the model's configuration."""

import logging

from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from prefopt.engine.quiet import tied_weight_warning_silenced

WARNING = "[RANK 0] Removed shared tensor {names} while saving. This should be OK, but check ..."


def _warn(names):
    logging.getLogger("accelerate.utils.other").warning(WARNING.format(names=names))


def test_only_tensors_tied_by_the_configuration_are_silenced(caplog):
    config = LlamaConfig(
        vocab_size=16,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    with tied_weight_warning_silenced(LlamaForCausalLM(config)):
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
