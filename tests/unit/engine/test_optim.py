import math

import pytest
import torch

from prefopt.config import OptimConfig
from prefopt.engine.optim import build_optimizer, build_scheduler, lr_factor


def test_linear_warmup_then_constant_matches_the_paper():
    # App. B: linear warm-up from 0 over 150 steps
    factors = [lr_factor(step, 150, 1000, "constant") for step in range(400)]
    assert factors[0] == pytest.approx(1 / 151)
    assert all(b > a for a, b in zip(factors[:150], factors[1:150], strict=False))
    assert factors[150:] == [1.0] * 250


def test_cosine_decays_to_zero_at_the_end():
    assert lr_factor(10, 10, 110, "cosine") == pytest.approx(1.0)
    assert lr_factor(60, 10, 110, "cosine") == pytest.approx(0.5)
    assert lr_factor(110, 10, 110, "cosine") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name,cls", [("rmsprop", torch.optim.RMSprop), ("adamw", torch.optim.AdamW)])
def test_optimizer_choice_and_scheduled_lr(name, cls):
    model = torch.nn.Linear(3, 1)
    config = OptimConfig(optimizer=name, lr=0.5, warmup_steps=3, schedule="constant")
    optimizer = build_optimizer(model, config)
    assert isinstance(optimizer, cls)
    scheduler = build_scheduler(optimizer, config, total_steps=10)
    lrs = []
    for _ in range(5):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.5 * k / 4 for k in (1, 2, 3)] + [0.5, 0.5])
    assert not math.isnan(lrs[0])
