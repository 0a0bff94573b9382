"""Configurations that must give the same result, compared with each other (tolerances stated per test)."""

import json
import random
import shutil

import pytest
import torch

from prefopt.reference import AdapterDisabledReference
from tests.integration.runs import final_weights, logged_lines, tiny_trainer, train_losses, train_tiny

# float32 sums over different micro-batch splits differ in rounding only (losses agree to 1e-7), but Adam divides
# each gradient by its running RMS, so a parameter whose gradient is rounding noise moves by up to lr per step
# either way: weights are compared to 1% of one step's largest update (lr = 1e-3)
ACCUMULATION_ATOL = 1e-5


def _assert_weights_close(a, b, atol):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=atol, rtol=0), name


def test_batch_8x1_equals_4x2_equals_2x4_accumulation(tmp_path):
    runs = [train_tiny(tmp_path, f"mb{m}", f"optim.micro_batch_size={m}") for m in (8, 4, 2)]
    reference = final_weights(runs[0])
    for run in runs[1:]:
        _assert_weights_close(final_weights(run), reference, ACCUMULATION_ATOL)
        assert train_losses(run) == pytest.approx(train_losses(runs[0]), abs=1e-6)
    assert final_weights(runs[0])["model.norm.weight"].ne(1).any()  # training moved the weights


def test_cached_reference_equals_live_reference_exactly(tmp_path):
    # micro-batches of one prompt: the cache pass and the live pass run the same forward computations
    common = ["optim.micro_batch_size=1", "reference.batch_size=1"]
    cached = train_tiny(tmp_path, "cached", *common, "reference.cache=true")
    live = train_tiny(tmp_path, "live", *common, "reference.cache=false")
    assert train_losses(cached) == train_losses(live)
    assert cached.final_metrics == live.final_metrics
    for name, value in final_weights(cached).items():
        assert torch.equal(value, final_weights(live)[name]), name


def test_lora_live_reference_is_the_adapter_free_policy_and_equals_the_cache(tmp_path):
    common = ["model.lora={r: 4, alpha: 8}", "optim.micro_batch_size=1", "reference.batch_size=1"]
    cached = train_tiny(tmp_path, "cached", *common, "reference.cache=true")
    live = tiny_trainer(tmp_path, "live", *common, "reference.cache=false")
    assert isinstance(live.reference, AdapterDisabledReference)  # no second model in memory
    live_result = live.run()
    assert train_losses(cached) == train_losses(live_result)
    for name, value in final_weights(cached).items():
        assert torch.equal(value, final_weights(live_result)[name]), name


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    whole = train_tiny(tmp_path, "whole", "optim.max_steps=6", "logging.save_every=3", "optim.warmup_steps=2")
    interrupted = tmp_path / "interrupted"
    shutil.copytree(whole.run_dir, interrupted)
    shutil.rmtree(interrupted / "final")
    shutil.rmtree(interrupted / "checkpoints" / "step-0000006")  # as if killed between step 3 and step 6
    resumed = train_tiny(
        tmp_path, "interrupted", "optim.max_steps=6", "logging.save_every=3", "optim.warmup_steps=2", resume=True
    )
    for name, value in final_weights(whole).items():
        assert torch.equal(value, final_weights(resumed)[name]), name
    assert logged_lines(interrupted / "metrics.jsonl") == logged_lines(whole.run_dir / "metrics.jsonl")
    assert resumed.initial_metrics == whole.initial_metrics  # the report's "before" is the run's true start


def test_plackett_luce_at_k2_trains_like_dpo(tmp_path):
    dpo = train_tiny(tmp_path, "dpo", "loss.name=dpo", "loss.beta=0.5")
    pl = train_tiny(tmp_path, "pl", "loss.name=plackett_luce", "loss.beta=0.5")
    assert train_losses(pl) == pytest.approx(train_losses(dpo), abs=1e-6)
    _assert_weights_close(final_weights(pl), final_weights(dpo), 1e-6)


def test_held_out_margins_are_exactly_zero_before_training(tmp_path):
    # responses of many lengths, so that batch composition changes padding; the cached reference and the
    # step-0 policy must still agree bit for bit on every held-out pair
    rng = random.Random(0)
    rows = []
    for i in range(48):
        words = ["good", "fine", "bad", "odd", "nice", "dull"]
        prompt = f"q{i}: " + " ".join(rng.choices(words, k=rng.randint(1, 12)))
        chosen, rejected = (" ".join(rng.choices(words, k=rng.randint(1, 20))) for _ in range(2))
        rows.append({"prompt": prompt, "chosen": " " + chosen, "rejected": " " + rejected + " x"})
    data = tmp_path / "varied.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = train_tiny(
        tmp_path,
        "varied",
        f"data.path={data}",
        "model.tokenizer=bytes",
        "model.preset=small",
        "data.max_length=256",
        "data.max_prompt_length=128",
        "data.eval_fraction=0.5",
        "reference.batch_size=5",
        "optim.max_steps=1",
    )
    assert result.initial_metrics["margin"] == 0.0
    assert result.initial_metrics["accuracy"] == 0.5
