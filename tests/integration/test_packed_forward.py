"""model.packed_forward chooses the layout of the forward; both layouts train alike."""

import pytest

from tests.integration.runs import tiny_trainer, train_losses, train_tiny


def test_the_padded_layout_trains_like_the_packed_one_with_its_own_cache(tmp_path):
    packed = train_tiny(tmp_path, "packed")
    padded = train_tiny(tmp_path, "padded", "model.packed_forward=false")
    assert train_losses(padded) == pytest.approx(train_losses(packed), abs=1e-5)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 4  # train and held-out, for each layout


@pytest.mark.parametrize("packed", [True, False])
def test_the_setting_reaches_the_policy(tmp_path, packed):
    with tiny_trainer(tmp_path, "run", f"model.packed_forward={packed}") as trainer:
        assert trainer.layout.packed is packed


def test_the_layout_settings_reach_the_policy_and_key_their_own_cache(tmp_path):
    with tiny_trainer(tmp_path, "run", "model.pack_tokens=64", "model.chunked_head=false") as trainer:
        assert (trainer.layout.pack_tokens, trainer.layout.chunked_head) == (64, False)
    train_tiny(tmp_path, "default")
    train_tiny(tmp_path, "budget", "model.pack_tokens=64")
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 6  # train and held-out, for each of 3 layouts
