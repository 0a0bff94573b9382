"""The sentiment experiment's statistics against independent computations: the bootstrap clustered by prompt, the
paired difference, the evaluation schedule and the sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prefopt.experiments.sentiment.bootstrap import Bootstrap, naive_half_width
from prefopt.experiments.sentiment.sizes import RLOO, geometric_steps, sweep

VALUES = torch.tensor(
    [[0.1, 0.3, 0.2], [0.9, 0.7, 0.8], [-0.4, -0.2, -0.6], [0.0, 0.5, 0.1], [0.6, 0.6, 0.2]], dtype=torch.float64
)


def test_the_clustered_interval_resamples_whole_prompts():
    bootstrap = Bootstrap(resamples=500, seed=7)
    # independent: concatenate every sample of the drawn prompts, take the mean, then numpy's percentiles
    means = [np.concatenate([VALUES[p].numpy() for p in row]).mean() for row in bootstrap.indices(len(VALUES)).tolist()]
    expected = np.percentile(means, [2.5, 97.5])
    assert bootstrap.interval(VALUES) == pytest.approx(tuple(expected), abs=1e-12)


def test_perfectly_correlated_samples_give_the_interval_of_the_per_prompt_means():
    bootstrap = Bootstrap(resamples=300, seed=1)
    per_prompt = VALUES[:, :1]
    copies = per_prompt.expand(-1, 4)  # four identical samples per prompt: no more information than one
    assert bootstrap.interval(copies) == pytest.approx(bootstrap.interval(per_prompt), abs=1e-12)
    # the naive interval takes the 4 copies as independent, so it is half as wide as with one sample per prompt
    assert naive_half_width(copies) < naive_half_width(per_prompt)


def test_the_naive_half_width_is_z_sd_over_root_n():
    flat = VALUES.flatten().numpy()
    expected = 1.959963984540054 * flat.std(ddof=1) / math.sqrt(flat.size)
    assert naive_half_width(VALUES) == pytest.approx(expected, rel=1e-9)


def test_a_paired_difference_of_shared_draws_is_exactly_zero():
    outcome = Bootstrap(resamples=200).paired_difference(VALUES, VALUES.clone())
    assert outcome == {"difference": 0.0, "interval": [0.0, 0.0], "zero_inside": True}


def test_a_paired_difference_resamples_the_prompts_of_both_arrays_together():
    bootstrap = Bootstrap(resamples=400, seed=3)
    shifted = VALUES + 0.25  # a constant shift per prompt: every paired resample sees exactly -0.25
    outcome = bootstrap.paired_difference(VALUES, shifted)
    assert outcome["difference"] == pytest.approx(-0.25)
    assert outcome["interval"] == pytest.approx([-0.25, -0.25])
    assert not outcome["zero_inside"]


def test_the_evaluation_schedule_is_geometric_and_ends_at_the_last_step():
    assert geometric_steps(32) == (1, 2, 4, 8, 16, 32)
    assert geometric_steps(48) == (1, 2, 4, 8, 16, 32, 48)
    assert geometric_steps(30, first=3, ratio=3) == (3, 9, 27, 30)
    assert geometric_steps(1) == (1,)
    with pytest.raises(ValueError, match="ratio > 1"):
        geometric_steps(8, ratio=1.0)


def test_the_sweeps_are_the_papers_grids_and_rloo_traces_its_kl_coefficient():
    methods = sweep()
    assert sorted(m.loss["beta"] for m in methods if m.family == "dpo (all pairs)") == [0.05, 0.1, 1.0, 5.0]
    assert sorted(m.loss["alpha"] for m in methods if m.family == "unlikelihood") == [0.05, 0.1, 0.5, 1.0]
    scales = sorted(m.lr_scale for m in methods if m.loss.get("name") == "sft")
    assert len(scales) == 3 and scales[0] < 1 == scales[1] < scales[2]
    assert len({m.loss["beta"] for m in methods if m.family == RLOO}) >= 3
    assert len({m.name for m in methods}) == len(methods)
