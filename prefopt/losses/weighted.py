"""Weighted sums of losses, and the loss a run's configuration names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefopt.losses.bound import Loss
from prefopt.losses.catalogue import get_loss
from prefopt.losses.declare import Declarations, LossOptionsError
from prefopt.types import BatchLoss, Scores


@dataclass
class WeightedLoss:
    """A weighted sum of several losses in one run, e.g. DPO + alpha * SFT (the RPO recipe).

    Declarations are the union of the parts' needs. Rewards are those of the first part; metrics carry each
    part's loss as ``loss/<name>`` and its own metrics prefixed by its name.
    """

    parts: Sequence[tuple[float, Loss]]

    def __post_init__(self) -> None:
        if not self.parts:
            raise LossOptionsError("a weighted loss needs at least one part")
        decls = [loss.declarations for _, loss in self.parts]
        self.declarations = Declarations(
            needs_reference=any(d.needs_reference for d in decls),
            needs_token_logps=any(d.needs_token_logps for d in decls),
            length_normalized=any(d.length_normalized for d in decls),
            listwise=all(d.listwise for d in decls),
            accepts_ties=all(d.accepts_ties for d in decls),
            reward_difference=all(d.reward_difference for d in decls),
            bradley_terry=False,
            monotone=all(d.monotone for d in decls) and all(w >= 0 for w, _ in self.parts),
            per_prompt=all(d.per_prompt for d in decls),
            bounded_below=_weighted_bound(self.parts),
        )

    @property
    def name(self) -> str:
        return " + ".join(f"{w:g}*{loss.name}" for w, loss in self.parts)

    def settings(self) -> list[dict[str, Any]]:
        """Each part's :meth:`Loss.settings` with its weight."""
        return [{"weight": weight, **part.settings()} for weight, part in self.parts]

    def describe(self) -> str:
        """``1 x dpo (...) + 0.5 x sft (...)``."""
        return " + ".join(f"{weight:g} x {part.describe()}" for weight, part in self.parts)

    def __call__(self, scores: Scores) -> BatchLoss:
        total, metrics, rewards = None, {}, None
        for weight, loss in self.parts:
            out = loss(scores)
            total = weight * out.loss if total is None else total + weight * out.loss
            rewards = out.rewards if rewards is None else rewards
            metrics[f"loss/{loss.name}"] = float(out.loss.detach())
            metrics.update({f"{loss.name}/{key}": value for key, value in out.metrics.items()})
        return BatchLoss(loss=total, rewards=rewards, metrics=metrics)


def build_loss(spec: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Loss | WeightedLoss:
    """A loss from configuration: a name, ``{"name": ..., "pairs": ..., **options}``, or a list of such
    mappings each with a ``weight`` (default 1.0), summed."""
    if isinstance(spec, str):
        return get_loss(spec)
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if "name" not in spec:
            raise LossOptionsError(f"a loss entry needs a 'name'; got keys {sorted(spec)}")
        return get_loss(spec.pop("name"), **spec)
    parts = []
    for entry in spec:
        entry = dict(entry)
        weight = float(entry.pop("weight", 1.0))
        parts.append((weight, build_loss(entry)))
    return WeightedLoss(parts)


def _weighted_bound(parts: Sequence[tuple[float, Loss]]) -> float | None:
    """sum_i w_i b_i when every part declares a lower bound b_i and no weight is negative; else no bound."""
    bounds = [loss.declarations.bounded_below for _, loss in parts]
    if any(bound is None for bound in bounds) or any(weight < 0 for weight, _ in parts):
        return None
    return sum(weight * bound for (weight, _), bound in zip(parts, bounds, strict=True))
