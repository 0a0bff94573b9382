"""A loss bound to its options: inputs and outputs checked, rankings split into pairs, the mean taken.

Two outputs, two types. The loss function returns a :class:`~prefopt.types.LossOutput` of per-row losses: shape
(B,) for a listwise loss, one value per prompt, or (N,) for a pairwise one, one value per preference pair, with
rewards (B, K) or (N, 2). :class:`Loss` validates the inputs against the declarations, decomposes K-way rankings
into pairs for pairwise-only losses, checks every output against that contract (shapes, finite values), and
returns to the engine a :class:`~prefopt.types.BatchLoss`: the scalar mean over prompts and (B, K) rewards.

The contract: the function returns (does not raise), leaves its input :class:`Scores` as they were (no in-place
change of a tensor, no field replaced), and returns a :class:`LossOutput` of tensors of the shapes above, a
floating-point loss that carries the gradient of the policy log-probs when they have one, finite values (rewards
where valid) and metrics that are numbers. Every breach is a :class:`LossContractError` naming the loss and the
distribution that provides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from numbers import Real
from typing import Any

import torch

from prefopt.losses.declare import Declarations, LossDefinition, LossOptions
from prefopt.rankings import PairScheme, ranking_pairs
from prefopt.registry import Provider
from prefopt.types import BatchLoss, LossOutput, Scores


class ScoresError(ValueError):
    """Scores that lack something the loss declared it needs."""


class LossContractError(ValueError):
    """A loss function that breaks the contract: it raised, changed its input scores, or returned something of
    the wrong type, dtype or shape, without a gradient, with non-finite values, or with metrics that are not
    numbers."""


class NonFiniteLossError(LossContractError):
    """A loss function returned a non-finite loss or reward (on untrained weights the loss itself is broken; after
    optimizer steps the run has diverged)."""


@dataclass
class Loss:
    """A loss bound to validated options: call it on :class:`Scores` (B prompts) to get a :class:`BatchLoss`.

    Attributes:
        definition: what the plugin provided.
        options: the validated options.
        pairs: how K-way rankings are split into pairs for a pairwise-only loss.
        provider: the distribution that registered the loss, named in contract errors (None: not registered).
        require_finite: raise :class:`NonFiniteLossError` on non-finite outputs; off where non-finite values are
            what is being observed (the stability properties of ``prefopt verify``).
    """

    definition: LossDefinition
    options: LossOptions
    pairs: PairScheme = "all"
    provider: Provider | None = None
    require_finite: bool = True

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def declarations(self) -> Declarations:
        """The definition's declarations for these options."""
        return self.definition.declarations(self.options)

    def settings(self) -> dict[str, Any]:
        """What the loss computes, as recorded and compared on resume: name, pair scheme and every option."""
        return {"name": self.name, "pairs": self.pairs, **self.options.model_dump(mode="json")}

    def describe(self) -> str:
        """``dpo (beta=0.1, label_smoothing=0.0, pairs=all)``."""
        options = [f"{key}={value}" for key, value in self.options.model_dump(mode="json").items()]
        return f"{self.name} ({', '.join([*options, f'pairs={self.pairs}'])})"

    def __call__(self, scores: Scores) -> BatchLoss:
        """The scalar mean loss over the prompts of ``scores`` with a preference, (B, K) rewards and metrics."""
        declarations = self.declarations
        self._check(scores, declarations)
        if declarations.listwise:
            out = self._apply(scores, "example")
            has_preference = ranking_pairs(scores.ranks, scores.valid)[1].any(dim=1)
            return _reduce(out, has_preference, per_example=declarations.per_prompt)
        return self._pairwise(scores, declarations)

    @property
    def origin(self) -> str:
        """``loss 'dpo' from prefopt 0.1``: how contract errors name the loss."""
        return f"loss {self.name!r}" + (f" from {self.provider}" if self.provider is not None else "")

    def _apply(self, scores: Scores, row: str) -> LossOutput:
        """The loss function on ``scores`` (one ``row`` per prompt or preference pair), its call and output
        checked against the contract (see the module docstring)."""
        before = _snapshot(scores)
        try:
            out = self.definition.function(scores, self.options)
        except (MemoryError, torch.cuda.OutOfMemoryError):  # the machine's limit, not the loss's fault
            raise
        except Exception as error:  # the plugin's own code: any failure is a broken loss, named as such
            raise LossContractError(f"{self.origin} raised {type(error).__name__}: {error}") from error
        changed = _changed_fields(scores, before)
        if changed:
            raise LossContractError(
                f"{self.origin} changed its input Scores.{changed[0]} in place; a loss must leave the scores it is "
                f"given as they are (compute out of place: x = x * 2, not x *= 2 or x[...] = ...)"
            )
        valid = scores.valid if row == "example" else None  # pairs are made of valid slots only
        needs_grad = torch.is_grad_enabled() and scores.policy.requires_grad
        self._check_output(out, scores.batch_size, scores.num_slots, row, valid, needs_grad)
        return out

    def _check_output(
        self, out: object, rows: int, slots: int, row: str, valid: torch.Tensor | None, needs_grad: bool
    ) -> None:
        """``out.loss`` of shape (rows,), ``out.rewards`` (rows, slots), floating point, the loss with a gradient
        when ``needs_grad``, number metrics, finite (rewards where ``valid``)."""
        origin = self.origin
        if not isinstance(out, LossOutput):
            raise LossContractError(f"{origin} returned {type(out).__name__}, but prefopt needs a LossOutput")
        if not isinstance(out.loss, torch.Tensor) or not isinstance(out.rewards, torch.Tensor):
            kinds = f"{type(out.loss).__name__} and {type(out.rewards).__name__}"
            raise LossContractError(f"{origin} returned loss and rewards of types {kinds}, but prefopt needs tensors")
        for what, values in (("loss", out.loss), ("rewards", out.rewards)):
            if not values.is_floating_point():
                raise LossContractError(
                    f"{origin} returned {what} of dtype {values.dtype}, but prefopt needs floating-point values"
                )
        if tuple(out.loss.shape) != (rows,):
            raise LossContractError(
                f"{origin} returned loss of shape {tuple(out.loss.shape)} but prefopt needs one value per {row}, "
                f"shape ({rows},)"
            )
        if tuple(out.rewards.shape) != (rows, slots):
            raise LossContractError(
                f"{origin} returned rewards of shape {tuple(out.rewards.shape)} but prefopt needs one reward per "
                f"response of each {row}, shape ({rows}, {slots})"
            )
        if needs_grad and not out.loss.requires_grad:
            raise LossContractError(
                f"{origin} returned a loss without a gradient (requires_grad=False) from policy log-probs that have "
                f"one: it was detached or computed outside autograd (.item(), .numpy(), torch.no_grad), so "
                f"training would not change the model"
            )
        if not isinstance(out.metrics, Mapping):
            raise LossContractError(f"{origin} returned metrics of type {type(out.metrics).__name__}, not a dict")
        for name, value in out.metrics.items():
            if not isinstance(value, Real) or isinstance(value, bool):
                raise LossContractError(
                    f"{origin} returned metric {name!r} of type {type(value).__name__}, but prefopt needs a number "
                    f"(e.g. float(tensor))"
                )
        if not self.require_finite:
            return
        rewards = out.rewards.detach() if valid is None else out.rewards.detach()[valid]
        checked = (("loss", out.loss.detach()), ("reward", rewards))
        if bool(torch.stack([torch.isfinite(values).all() for _, values in checked]).all()):  # one device sync
            return
        what, values = next((what, values) for what, values in checked if not torch.isfinite(values).all())
        bad = ~torch.isfinite(values)
        raise NonFiniteLossError(
            f"{origin} returned a non-finite {what} ({float(values[bad][0])}) for {int(bad.sum())} of "
            f"{values.numel()} values"
        )

    def _check(self, scores: Scores, decl: Declarations) -> None:
        if decl.needs_reference and scores.reference is None:
            raise ScoresError(f"loss {self.name!r} needs reference log-probs, but Scores.reference is None")
        if decl.length_normalized and scores.lengths is None:
            raise ScoresError(f"loss {self.name!r} is length-normalised, but Scores.lengths was not given")
        if decl.needs_token_logps and scores.token_policy is None:
            raise ScoresError(f"loss {self.name!r} needs token-level log-probs, but Scores.token_policy is None")
        if scores.num_slots < 2:
            raise ScoresError(f"loss {self.name!r} needs at least 2 responses per prompt, got K={scores.num_slots}")

    def _pairwise(self, scores: Scores, declarations: Declarations) -> BatchLoss:
        """Apply a pairwise-only loss to every preference pair of each prompt; average per prompt."""
        index, pair_valid = ranking_pairs(scores.ranks, scores.valid, self.pairs)  # (P, 2), (B, P)
        batch, num_pairs = pair_valid.shape
        rows, cols = pair_valid.nonzero(as_tuple=True)  # the valid (prompt, pair) cells, in order
        slots = index[cols]  # (N, 2) better, worse

        def take(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor[rows.unsqueeze(1), slots]

        pair_scores = Scores(
            policy=take(scores.policy),
            reference=take(scores.reference),
            lengths=take(scores.lengths),
            token_policy=take(scores.token_policy),
            token_mask=take(scores.token_mask),
        )
        out = self._apply(pair_scores, "preference pair")  # loss (N,), rewards (N, 2)

        reward_sum = torch.zeros_like(scores.policy, dtype=out.rewards.dtype)
        reward_sum.index_put_((rows.unsqueeze(1).expand_as(slots), slots), out.rewards.detach(), accumulate=True)
        appearances = torch.zeros_like(reward_sum).index_put_(
            (rows.unsqueeze(1).expand_as(slots), slots), torch.ones_like(out.rewards), accumulate=True
        )
        rewards = reward_sum / appearances.clamp(min=1)
        if not declarations.per_prompt:  # the outputs belong to the batch (e.g. sorted positions), not to pairs
            return _reduce(
                replace(out, rewards=rewards), torch.ones_like(out.loss, dtype=torch.bool), per_example=False
            )
        per_pair = torch.zeros(batch, num_pairs, dtype=out.loss.dtype, device=out.loss.device)
        per_pair = per_pair.index_put((rows, cols), out.loss)
        counts = pair_valid.sum(dim=1)  # (B,)
        per_prompt = per_pair.sum(dim=1) / counts.clamp(min=1)
        return _reduce(replace(out, loss=per_prompt, rewards=rewards), counts > 0, per_example=True)


def _snapshot(scores: Scores) -> dict[str, tuple[torch.Tensor | None, int]]:
    """Per field of ``scores``: the tensor and its version counter, which every in-place change (through any view)
    increments; an inference tensor cannot change in place and counts as version -1."""
    snapshot = {}
    for field in fields(scores):
        tensor = getattr(scores, field.name)
        version = -1 if tensor is None or tensor.is_inference() else tensor._version
        snapshot[field.name] = (tensor, version)
    return snapshot


def _changed_fields(scores: Scores, before: dict[str, tuple[torch.Tensor | None, int]]) -> list[str]:
    """The fields of ``scores`` replaced or changed in place since ``before`` (a :func:`_snapshot`)."""
    after = _snapshot(scores)
    return [
        name for name, (tensor, version) in before.items() if after[name][0] is not tensor or after[name][1] != version
    ]


def _reduce(out: LossOutput, has_preference: torch.Tensor, *, per_example: bool) -> BatchLoss:
    """Mean of the losses (B,) over the examples that express a preference; with ``per_example`` (the losses are
    the prompts' own) they are kept as ``example_losses``."""
    weights = has_preference.to(out.loss.dtype)
    loss = (out.loss * weights).sum() / weights.sum().clamp(min=1)
    example_losses = out.loss.detach() if per_example else None
    return BatchLoss(loss=loss, rewards=out.rewards.detach(), metrics=dict(out.metrics), example_losses=example_losses)
