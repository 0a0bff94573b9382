"""How a loss is declared, registered, looked up and called.

A loss is a plain function ``(scores, options) -> LossOutput`` wrapped by :func:`define_loss`, which records its
options model (pydantic) and its declarations. The engine reads the declarations (does it need the reference?
token-level log-probs? lengths? is it listwise?) and never the loss's name.

The function returns the per-prompt losses, shape (B,), in ``LossOutput.loss``; the :class:`Loss` returned by
:func:`get_loss` validates the inputs against the declarations, decomposes K-way rankings into pairs for
pairwise-only losses, and reduces to the scalar mean over prompts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from prefopt.losses.pairs import PAIR_SCHEMES, PairScheme, ranking_pairs
from prefopt.registry import Provider, Registry, RegistryError
from prefopt.types import LossOutput, Scores

GROUP = "prefopt.losses"


class LossOptions(BaseModel):
    """Base of every loss's options: immutable, and unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LossOptionsError(ValueError):
    """Options that the loss's own options model rejects."""


class ScoresError(ValueError):
    """Scores that lack something the loss declared it needs."""


@dataclass(frozen=True)
class Declarations:
    """What a loss needs from the engine and which theoretical properties it claims.

    Needs:
        needs_reference: reads ``Scores.reference`` (the engine builds the reference cache).
        needs_token_logps: reads ``Scores.token_policy`` / ``token_mask``.
        length_normalized: reads ``Scores.lengths``.
        listwise: accepts any K >= 2 with ``valid`` and ties in ``ranks``; False means pairwise only (K = 2),
            and K-way rankings are decomposed into pairs before the loss sees them.
    Properties (checked by :mod:`prefopt.verify`):
        reward_difference: each prompt's loss depends on its scores only through differences between its
            responses, so adding f(x) to all policy (or all reference) log-probs of a prompt changes nothing
            (Lemma 1).
        bradley_terry: at K = 2 the loss is -log sigma(beta * (h_w - h_l)) with the option ``beta``, so its
            derivatives are -beta*w and +beta*w, w = sigma(beta*h_l - beta*h_w) (App. A.4). A listwise
            bradley_terry loss is the Plackett-Luce likelihood (App. A.3): log K! at h = 0.
        monotone: raising the best response's log-prob never raises the loss.
        per_prompt: each prompt's loss depends on its own scores only, so a batch's loss is the mean of its
            prompts' losses alone; False for losses that couple the prompts of a batch (sorting across the
            batch, a batch-mean reward baseline).
    """

    needs_reference: bool = True
    needs_token_logps: bool = False
    length_normalized: bool = False
    listwise: bool = False
    reward_difference: bool = True
    bradley_terry: bool = False
    monotone: bool = True
    per_prompt: bool = True


LossFunction = Callable[[Scores, Any], LossOutput]


@dataclass(frozen=True)
class LossDefinition:
    """A loss as a plugin provides it: its function, options model, summary and declarations."""

    name: str
    function: LossFunction
    options: type[LossOptions]
    summary: str
    declare: Callable[[Any], Declarations]
    doc: str = ""

    def declarations(self, options: LossOptions | None = None) -> Declarations:
        return self.declare(options if options is not None else self.options())


def define_loss(
    name: str,
    *,
    options: type[LossOptions] = LossOptions,
    declarations: Declarations | Callable[[Any], Declarations] = Declarations(),
    summary: str | None = None,
) -> Callable[[LossFunction], LossDefinition]:
    """Decorator turning ``function(scores, options) -> LossOutput`` into a :class:`LossDefinition`.

    Args:
        name: the registry name; it must equal the entry point's name.
        options: pydantic model of the loss's options (subclass :class:`LossOptions`).
        declarations: fixed :class:`Declarations`, or a function of the options returning them
            (e.g. ``reference_free=True`` means ``needs_reference=False``).
        summary: one line for ``prefopt losses``; defaults to the docstring's first line.
    """

    def wrap(function: LossFunction) -> LossDefinition:
        doc = inspect.getdoc(function) or ""
        declare = declarations if callable(declarations) else (lambda _options, fixed=declarations: fixed)
        return LossDefinition(
            name=name,
            function=function,
            options=options,
            summary=summary or (doc.splitlines()[0] if doc else name),
            declare=declare,
            doc=doc,
        )

    return wrap


def _check_definition(name: str, value: Any) -> LossDefinition:
    if not isinstance(value, LossDefinition):
        raise TypeError(f"expected a LossDefinition made with prefopt.define_loss, got {type(value).__name__}")
    if value.name != name:
        raise TypeError(f"the definition is named {value.name!r} but registered as {name!r}")
    return value


registry: Registry[LossDefinition] = Registry(GROUP, kind="loss", check=_check_definition)


@dataclass
class Loss:
    """A loss bound to validated options: call it on :class:`Scores` to get a :class:`LossOutput`.

    Attributes:
        definition: what the plugin provided.
        options: the validated options.
        declarations: the definition's declarations for these options.
        pairs: how K-way rankings are split into pairs for a pairwise-only loss.
    """

    definition: LossDefinition
    options: LossOptions
    pairs: PairScheme = "all"
    declarations: Declarations = field(init=False)

    def __post_init__(self) -> None:
        self.declarations = self.definition.declarations(self.options)

    @property
    def name(self) -> str:
        return self.definition.name

    def __call__(self, scores: Scores) -> LossOutput:
        self._check(scores)
        if self.declarations.listwise:
            out = self.definition.function(scores, self.options)
            return _reduce(out, ranking_pairs(scores.ranks, scores.valid)[1].any(dim=1))
        return self._pairwise(scores)

    def _check(self, scores: Scores) -> None:
        decl = self.declarations
        if decl.needs_reference and scores.reference is None:
            raise ScoresError(f"loss {self.name!r} needs reference log-probs, but Scores.reference is None")
        if decl.length_normalized and not scores.has_lengths:
            raise ScoresError(f"loss {self.name!r} is length-normalised, but Scores.lengths was not given")
        if decl.needs_token_logps and scores.token_policy is None:
            raise ScoresError(f"loss {self.name!r} needs token-level log-probs, but Scores.token_policy is None")
        if scores.num_slots < 2:
            raise ScoresError(f"loss {self.name!r} needs at least 2 responses per prompt, got K={scores.num_slots}")

    def _pairwise(self, scores: Scores) -> LossOutput:
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
        pair_scores.has_lengths = scores.has_lengths
        out = self.definition.function(pair_scores, self.options)  # loss (N,), rewards (N, 2)

        reward_sum = torch.zeros_like(scores.policy, dtype=out.rewards.dtype)
        reward_sum.index_put_((rows.unsqueeze(1).expand_as(slots), slots), out.rewards.detach(), accumulate=True)
        appearances = torch.zeros_like(reward_sum).index_put_(
            (rows.unsqueeze(1).expand_as(slots), slots), torch.ones_like(out.rewards), accumulate=True
        )
        rewards = reward_sum / appearances.clamp(min=1)
        if not self.declarations.per_prompt:  # the outputs belong to the batch (e.g. sorted positions), not to pairs
            return _reduce(replace(out, rewards=rewards), torch.ones_like(out.loss, dtype=torch.bool))
        per_pair = torch.zeros(batch, num_pairs, dtype=out.loss.dtype, device=out.loss.device)
        per_pair = per_pair.index_put((rows, cols), out.loss)
        counts = pair_valid.sum(dim=1)  # (B,)
        per_prompt = per_pair.sum(dim=1) / counts.clamp(min=1)
        return _reduce(replace(out, loss=per_prompt, rewards=rewards), counts > 0)


def _reduce(out: LossOutput, has_preference: torch.Tensor) -> LossOutput:
    """Mean of the per-example losses (B,) over the examples that express a preference."""
    if out.loss.dim() != 1:
        raise ScoresError(f"a loss function must return per-example losses of shape (B,), got {tuple(out.loss.shape)}")
    weights = has_preference.to(out.loss.dtype)
    loss = (out.loss * weights).sum() / weights.sum().clamp(min=1)
    return LossOutput(loss=loss, rewards=out.rewards.detach(), metrics=dict(out.metrics))


# public functions -------------------------------------------------------------------------------------


def get_loss(name: str, *, pairs: PairScheme = "all", **options: Any) -> Loss:
    """The registered loss ``name`` bound to ``options``.

    Args:
        name: registry name, e.g. ``"dpo"``.
        pairs: for pairwise-only losses on K-way data, which pairs to form (``all``, ``adjacent``,
            ``best_vs_rest``).
        **options: the loss's options, validated by its own pydantic model.

    Raises:
        UnknownNameError: no such loss (with a "did you mean").
        LossOptionsError: an unknown or invalid option; the message names the option and the loss.
    """
    definition = registry.get(name)
    if pairs not in PAIR_SCHEMES:
        raise LossOptionsError(f"loss {name!r}: pairs={pairs!r} is not one of {', '.join(PAIR_SCHEMES)}")
    try:
        bound = definition.options(**options)
    except ValidationError as error:
        problems = "; ".join(f"option {'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}" for e in error.errors())
        raise LossOptionsError(f"loss {name!r}: {problems}") from None
    loss = Loss(definition, bound, pairs=pairs)
    if loss.declarations.listwise and pairs != "all":
        raise LossOptionsError(f"loss {name!r} is listwise; the pairs option applies to pairwise losses only")
    return loss


def register_loss(name_or_definition: str | LossDefinition, *, replace: bool = False, **define_kwargs: Any) -> Any:
    """Register a loss in this process (notebooks, tests).

    Use as ``register_loss(definition)`` with a :class:`LossDefinition`, or as a decorator taking the same
    arguments as :func:`define_loss`::

        @register_loss("my_loss", options=MyOptions)
        def my_loss(scores, options): ...
    """
    if isinstance(name_or_definition, LossDefinition):
        return registry.register(name_or_definition.name, name_or_definition, replace=replace)

    def wrap(function: LossFunction) -> LossDefinition:
        definition = define_loss(name_or_definition, **define_kwargs)(function)
        return registry.register(definition.name, definition, replace=replace)

    return wrap


@dataclass(frozen=True)
class LossInfo:
    """One record of :func:`list_losses`."""

    name: str
    summary: str
    provider: Provider
    needs_reference: bool
    listwise: bool
    declarations: Declarations
    options: dict[str, Any]
    doc: str

    @property
    def kind(self) -> str:
        return "listwise" if self.listwise else "pairwise"


@dataclass(frozen=True)
class LossProblem:
    """A registered name that cannot be used, and why."""

    name: str
    error: RegistryError


def describe(definition: LossDefinition, provider: Provider) -> LossInfo:
    declarations = definition.declarations()
    defaults = {
        option: (field_info.default if not field_info.is_required() else "<required>")
        for option, field_info in definition.options.model_fields.items()
    }
    return LossInfo(
        name=definition.name,
        summary=definition.summary,
        provider=provider,
        needs_reference=declarations.needs_reference,
        listwise=declarations.listwise,
        declarations=declarations,
        options=defaults,
        doc=definition.doc,
    )


def list_losses() -> list[LossInfo]:
    """One record per usable loss, sorted by name; see :func:`loss_problems` for the unusable ones."""
    return [
        describe(value, registry.provider(name)) for name, value in registry.items() if not isinstance(value, Exception)
    ]


def loss_problems() -> list[LossProblem]:
    """Registered names that cannot be used: plugins that failed to import, names with two providers."""
    return [LossProblem(name, value) for name, value in registry.items() if isinstance(value, Exception)]


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
            reward_difference=all(d.reward_difference for d in decls),
            bradley_terry=False,
            monotone=all(d.monotone for d in decls) and all(w >= 0 for w, _ in self.parts),
            per_prompt=all(d.per_prompt for d in decls),
        )

    @property
    def name(self) -> str:
        return " + ".join(f"{w:g}*{loss.name}" for w, loss in self.parts)

    def __call__(self, scores: Scores) -> LossOutput:
        total, metrics, rewards = None, {}, None
        for weight, loss in self.parts:
            out = loss(scores)
            total = weight * out.loss if total is None else total + weight * out.loss
            rewards = out.rewards if rewards is None else rewards
            metrics[f"loss/{loss.name}"] = float(out.loss.detach())
            metrics.update({f"{loss.name}/{key}": value for key, value in out.metrics.items()})
        return LossOutput(loss=total, rewards=rewards, metrics=metrics)


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
