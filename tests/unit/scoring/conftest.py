"""Fixtures of the scorer tests: the checkout's built-in scorers declared, fake plugin distributions."""

from __future__ import annotations

import shutil

import pytest

from prefopt.losses import registry as losses
from prefopt.scoring import registry
from tests.checkout_plugins import SCORERS, declare_checkout_entry_points, installed_plugins


@pytest.fixture(autouse=True)
def builtin_scorers(tmp_path_factory, monkeypatch):
    declare_checkout_entry_points(tmp_path_factory.mktemp("checkout"), monkeypatch)
    yield
    registry.refresh()
    losses.refresh()


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(dist, {scorer_name: module_source})`` fakes an installed distribution providing those scorers;
    each module exposes ``make``, the scorer factory."""
    with installed_plugins(tmp_path, monkeypatch, SCORERS, "make", registry) as install:
        yield install


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny preset model (random weights, byte tokenizer): a model directory as ``--model`` takes."""
    from prefopt.config import ModelConfig
    from prefopt.model.load import byte_tokenizer, load_model, resolve_source

    directory = tmp_path_factory.mktemp("tiny-model")
    tokenizer = byte_tokenizer()
    model = load_model(resolve_source(None, ModelConfig(preset="tiny"), len(tokenizer), seed=0), "float32")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def tiny_model_generating(tiny_model_dir, tmp_path):
    """``tiny_model_generating(**settings)``: a copy of ``tiny_model_dir`` whose generation config adds
    ``settings`` (e.g. ``forced_eos_token_id``), as a saved model's ``generation_config.json`` does."""
    from transformers import GenerationConfig

    def make(**settings):
        directory = tmp_path / ("model-" + "-".join(settings))
        shutil.copytree(tiny_model_dir, directory)
        config = GenerationConfig.from_pretrained(directory)
        config.update(**settings)
        config.save_pretrained(directory)
        return directory

    return make
