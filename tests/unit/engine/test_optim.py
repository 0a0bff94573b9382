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


def test_adamw_runs_fused_on_plain_parameters_and_matches_the_unfused_update():
    torch.manual_seed(0)
    start = [torch.randn(64, 32), torch.randn(32)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(5)]

    def trained(fused: bool) -> list[torch.Tensor]:
        params = [torch.nn.Parameter(p.clone()) for p in start]
        config = OptimConfig(optimizer="adamw", lr=1e-2, weight_decay=0.1)
        optimizer = build_optimizer(torch.nn.ParameterList(params), config)
        assert optimizer.defaults["fused"] is True
        if not fused:  # torch's reference implementation, one parameter at a time
            optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1, foreach=False)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
        return [p.detach() for p in params]

    for fused, plain in zip(trained(True), trained(False), strict=True):
        assert torch.allclose(fused, plain, rtol=1e-6, atol=1e-7)
