"""Fixtures of the scorer tests: the checkout's built-in scorers declared, fake plugin distributions."""

from __future__ import annotations

import sys

import pytest

from prefopt.losses import registry as losses
from prefopt.scoring import registry
from tests.checkout_plugins import declare_checkout_entry_points, write_plugin


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
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(dist: str, scorers: dict[str, str], version: str = "1.0") -> None:
        modules.extend(write_plugin(tmp_path, dist, version, "prefopt.scorers", scorers, "make"))
        registry.refresh()

    yield install
    for module in modules:
        sys.modules.pop(module, None)
    registry.refresh()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny preset model (random weights, byte tokenizer): a model directory as ``--model`` takes."""
    from prefopt.config import ModelConfig
    from prefopt.engine.models import byte_tokenizer, load_model, resolve_source

    directory = tmp_path_factory.mktemp("tiny-model")
    tokenizer = byte_tokenizer()
    model = load_model(resolve_source(None, ModelConfig(preset="tiny"), len(tokenizer), seed=0), "float32")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
