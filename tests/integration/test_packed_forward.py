"""model.packed_forward chooses the layout of the forward; both layouts train alike."""

import pytest

from prefopt.model.logprobs import Layout
from tests.integration.runs import tiny_trainer, train_losses, train_tiny


def test_the_padded_layout_trains_like_the_packed_one_with_its_own_cache(tmp_path):
    packed = train_tiny(tmp_path, "packed")
    padded = train_tiny(tmp_path, "padded", "model.packed_forward=false")
    assert train_losses(padded) == pytest.approx(train_losses(packed), abs=1e-5)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 4  # train and held-out, for each layout


@pytest.mark.parametrize("packed", [True, False])
def test_the_setting_reaches_the_policy(tmp_path, packed):
    with tiny_trainer(tmp_path, "run", f"model.packed_forward={packed}") as trainer:
        assert trainer.layout is (Layout.PACKED if packed else Layout.PADDED)
