"""Fixtures shared by the whole suite: tiny real transformers models built from a config in memory."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.hub_cache import offline_hub  # noqa: F401  (a fixture for the whole suite)


def make_tiny_llama(vocab_size: int = 64, seed: int = 0, *, tied: bool = False) -> LlamaForCausalLM:
    """A 2-layer Llama; ``tied``: the output head shares the input embedding's weight."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=tied,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config).eval()


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    return make_tiny_llama()
