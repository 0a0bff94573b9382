"""The sizes of the sentiment experiment: how many prompts, samples, steps and evaluations; and its methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Method:
    """One training run: ``name`` labels it, ``family`` colours it in the plot, ``loss`` is the run's loss spec."""

    name: str
    family: str
    loss: dict[str, Any]


def sweep(betas: tuple[float, ...], more_dpo_betas: tuple[float, ...] = ()) -> tuple[Method, ...]:
    """DPO on all 6 pairs of the 4 ranked samples (at ``betas`` and ``more_dpo_betas``) and on best-vs-worst,
    Plackett-Luce on the whole rankings (at ``betas``), IPO, unlikelihood (all pairs) and preferred-FT (SFT on
    the best sample)."""
    methods = [
        Method(f"dpo-all b={b:g}", "dpo (all pairs)", {"name": "dpo", "beta": b, "pairs": "all"})
        for b in (*betas, *more_dpo_betas)
    ]
    methods += [
        Method(f"dpo-bvw b={b:g}", "dpo (best vs worst)", {"name": "dpo", "beta": b, "pairs": "best_vs_worst"})
        for b in betas
    ]
    methods += [Method(f"pl b={b:g}", "plackett_luce", {"name": "plackett_luce", "beta": b}) for b in betas]
    methods += [
        Method("ipo tau=0.1", "ipo", {"name": "ipo", "tau": 0.1}),
        Method("unlikelihood", "unlikelihood", {"name": "unlikelihood", "alpha": 1.0}),
        Method("preferred-ft", "preferred-ft (sft on best)", {"name": "sft"}),
    ]
    return tuple(methods)


@dataclass(frozen=True)
class ExperimentSize:
    """Every count of one size of the experiment.

    ``train_prompts`` prefixes get ``k`` samples each (the preference data); ``eval_prompts`` held-out prefixes
    get ``eval_samples`` fresh samples each at every evaluation; ``sft_reviews`` reviews of at most
    ``sft_tokens`` tokens train pi_ref for ``sft_steps`` steps; each method trains ``steps`` optimizer steps of
    ``batch_size`` prompts and is evaluated every ``eval_every`` steps; best-of-N uses each N of ``best_of``.
    """

    train_prompts: int
    eval_prompts: int
    methods: tuple[Method, ...]
    k: int = 4
    max_new_tokens: int = 24
    eval_samples: int = 2
    sft_reviews: int = 256
    sft_tokens: int = 48
    sft_steps: int = 32
    sft_batch_size: int = 8
    sft_lr: float = 5e-5
    steps: int = 16
    batch_size: int = 8
    lr: float = 5e-6
    eval_every: int = 4
    best_of: tuple[int, ...] = (1, 2, 4, 8)
    generation_batch_size: int = 32


SIZES: dict[str, ExperimentSize] = {
    # the integration test's: a tiny model, a handful of prompts, a few steps, one method of each kind of data
    "test": ExperimentSize(
        train_prompts=8,
        eval_prompts=2,
        methods=tuple(m for m in sweep((0.1,)) if m.family in ("dpo (best vs worst)", "plackett_luce", "unlikelihood")),
        max_new_tokens=6,
        sft_reviews=8,
        sft_tokens=16,
        sft_steps=2,
        sft_batch_size=4,
        steps=2,
        batch_size=4,
        lr=1e-3,
        eval_every=2,
        best_of=(1, 2),
        generation_batch_size=16,
    ),
    # SmolLM2-135M on a handful of prompts: 22 minutes measured on 2 shared CPU cores (docs/results/sentiment.md)
    "small": ExperimentSize(
        train_prompts=16,
        eval_prompts=6,
        methods=sweep((0.1,), (0.5,)),
        max_new_tokens=12,
        sft_reviews=32,
        sft_tokens=24,
        sft_steps=4,
        sft_batch_size=4,
        steps=4,
        batch_size=4,
        lr=2e-5,
        eval_every=2,
        eval_samples=2,
        best_of=(1, 2, 4),
    ),
    # eight times the prompts of "small", 32 steps of 8 prompts, DPO at three betas: under an hour on 2 CPU cores
    "default": ExperimentSize(
        train_prompts=128,
        eval_prompts=32,
        methods=sweep((0.1,), (0.05, 0.5)),
        max_new_tokens=24,
        sft_reviews=256,
        sft_tokens=48,
        sft_steps=32,
        sft_batch_size=8,
        steps=32,
        batch_size=8,
        lr=5e-5,
        eval_every=16,
        eval_samples=2,
        best_of=(1, 2, 4, 8),
    ),
    # for a GPU: four times the prompts and eight times the held-out samples of "default", 48 steps of 16 prompts
    "large": ExperimentSize(
        train_prompts=512,
        eval_prompts=128,
        methods=sweep((0.1,), (0.05, 0.5)),
        max_new_tokens=24,
        eval_samples=4,
        sft_reviews=1024,
        sft_tokens=48,
        sft_steps=64,
        sft_batch_size=16,
        steps=48,
        batch_size=16,
        lr=5e-5,
        eval_every=16,
        best_of=(1, 2, 4, 8),
        generation_batch_size=128,
    ),
}
