"""The sizes of the sentiment experiment: how many prompts, samples, steps and evaluations; and its methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RLOO = "rloo"  # the family of the on-policy runs (TRL's RLOOTrainer), trained from the scorer, not the samples

DPO_BETAS = (0.05, 0.1, 1.0, 5.0)  # the DPO paper's sweep (App. C.1), as its unlikelihood alphas:
UNLIKELIHOOD_ALPHAS = (0.05, 0.1, 0.5, 1.0)
PREFERRED_FT_LR_SCALES = (1 / 3, 1.0, 3.0)  # preferred-FT's learning rate around the DPO runs'
RLOO_BETAS = (0.01, 0.05, 0.2)  # RLOO's KL coefficient around TRL's default 0.05


@dataclass(frozen=True)
class Method:
    """One training run: ``name`` labels it, ``family`` colours it in the plot, ``loss`` is the run's loss spec
    (for the RLOO family: ``{"beta": KL coefficient}``), ``lr_scale`` multiplies the size's learning rate."""

    name: str
    family: str
    loss: dict[str, Any]
    lr_scale: float = 1.0


def sweep(
    dpo_betas: tuple[float, ...] = DPO_BETAS,
    alphas: tuple[float, ...] = UNLIKELIHOOD_ALPHAS,
    lr_scales: tuple[float, ...] = PREFERRED_FT_LR_SCALES,
    rloo_betas: tuple[float, ...] = RLOO_BETAS,
) -> tuple[Method, ...]:
    """DPO on all 6 pairs of the 4 ranked samples at ``dpo_betas``; at beta 0.1 DPO on best-vs-worst and
    Plackett-Luce on the whole rankings; IPO; unlikelihood (all pairs) at ``alphas``; preferred-FT (SFT on the best
    sample) at ``lr_scales`` times the learning rate; RLOO at KL coefficients ``rloo_betas``."""
    methods = [
        Method(f"dpo-all b={b:g}", "dpo (all pairs)", {"name": "dpo", "beta": b, "pairs": "all"}) for b in dpo_betas
    ]
    methods += [
        Method("dpo-bvw b=0.1", "dpo (best vs worst)", {"name": "dpo", "beta": 0.1, "pairs": "best_vs_worst"}),
        Method("pl b=0.1", "plackett_luce", {"name": "plackett_luce", "beta": 0.1}),
        Method("ipo tau=0.1", "ipo", {"name": "ipo", "tau": 0.1}),
    ]
    methods += [Method(f"unlikelihood a={a:g}", "unlikelihood", {"name": "unlikelihood", "alpha": a}) for a in alphas]
    methods += [
        Method(f"preferred-ft lr x{scale:.2g}", "preferred-ft (sft on best)", {"name": "sft"}, lr_scale=scale)
        for scale in lr_scales
    ]
    methods += [Method(f"rloo b={b:g}", RLOO, {"beta": b}) for b in rloo_betas]
    return tuple(methods)


def geometric_steps(steps: int, first: int = 1, ratio: float = 2.0) -> tuple[int, ...]:
    """Evaluation steps first, first * ratio, first * ratio^2, ... (rounded) up to ``steps``, and ``steps``."""
    if first < 1 or ratio <= 1:
        raise ValueError(f"an evaluation schedule needs first >= 1 and ratio > 1, not {first} and {ratio}")
    chosen, value = {steps}, float(first)
    while round(value) < steps:
        chosen.add(round(value))
        value *= ratio
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class ExperimentSize:
    """Every count of one size of the experiment.

    ``train_prompts`` prefixes get ``k`` samples each (the preference data); ``eval_prompts`` held-out prefixes
    get ``eval_samples`` fresh samples each at every evaluation; ``sft_reviews`` reviews of at most
    ``sft_tokens`` tokens train pi_ref for ``sft_steps`` steps; each method trains ``steps`` optimizer steps of
    ``batch_size`` prompts and is evaluated at ``eval_steps``: a geometric schedule from step ``eval_first`` by
    ``eval_ratio`` (early steps, where the policies are still within a few nats of pi_ref, are measured); best-of-N
    uses each N of ``best_of``, each a divisor of the pool of pi_ref samples (``best_of_pool``).
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
    eval_first: int = 1
    eval_ratio: float = 2.0
    best_of: tuple[int, ...] = (1, 2, 4, 8)
    generation_batch_size: int = 32

    @property
    def eval_steps(self) -> tuple[int, ...]:
        return geometric_steps(self.steps, self.eval_first, self.eval_ratio)

    @property
    def best_of_pool(self) -> int:
        """Samples of pi_ref per held-out prompt: the evaluation's own draws and more, as many as the largest N."""
        return max(self.eval_samples, *self.best_of)


SIZES: dict[str, ExperimentSize] = {
    # the integration test's: a tiny model, a handful of prompts, a few steps, one method of each kind of data
    "test": ExperimentSize(
        train_prompts=8,
        eval_prompts=3,
        methods=tuple(
            m
            for m in sweep(dpo_betas=(), alphas=(1.0,), lr_scales=(), rloo_betas=(0.05,))
            if m.family in ("dpo (best vs worst)", "plackett_luce", "unlikelihood", RLOO)
        ),
        max_new_tokens=6,
        sft_reviews=8,
        sft_tokens=16,
        sft_steps=2,
        sft_batch_size=4,
        steps=2,
        batch_size=4,
        lr=1e-3,
        best_of=(1, 2, 4),
        generation_batch_size=16,
    ),
    # SmolLM2-135M on a handful of prompts, a reduced sweep (measured times: docs/results/sentiment.md)
    "small": ExperimentSize(
        train_prompts=16,
        eval_prompts=6,
        methods=sweep(dpo_betas=(0.1, 1.0), alphas=(0.1, 1.0), lr_scales=(1.0,), rloo_betas=(0.05,)),
        max_new_tokens=12,
        sft_reviews=32,
        sft_tokens=24,
        sft_steps=4,
        sft_batch_size=4,
        steps=4,
        batch_size=4,
        lr=2e-5,
        eval_samples=2,
        best_of=(1, 2, 4),
    ),
    # 3 seeds in 71 minutes on 2 CPU cores (docs/results/sentiment.md): 64 prefixes, 16 steps of 4 prompts, the
    # paper's sweeps at 3 values each, IPO left out, RLOO at 2 KL coefficients (13 runs), evaluated at 5 steps
    "default": ExperimentSize(
        train_prompts=64,
        eval_prompts=32,
        methods=tuple(
            m
            for m in sweep(dpo_betas=(0.05, 0.1, 1.0), alphas=(0.1, 0.5, 1.0), rloo_betas=(0.01, 0.1))
            if m.family != "ipo"
        ),
        max_new_tokens=16,
        sft_reviews=256,
        sft_tokens=48,
        sft_steps=24,
        sft_batch_size=8,
        steps=16,
        batch_size=4,
        lr=1e-4,
        eval_samples=2,
        best_of=(1, 2, 4, 8),
    ),
    # for a GPU: four times the prompts and eight times the held-out samples of "default", 48 steps of 16 prompts
    "large": ExperimentSize(
        train_prompts=512,
        eval_prompts=128,
        methods=sweep(),
        max_new_tokens=24,
        eval_samples=4,
        sft_reviews=1024,
        sft_tokens=48,
        sft_steps=64,
        sft_batch_size=16,
        steps=48,
        batch_size=16,
        lr=5e-5,
        best_of=(1, 2, 4, 8),
        generation_batch_size=128,
    ),
}
