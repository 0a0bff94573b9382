"""How a loss is declared: its options model, its declarations, and the interface the engine calls.

A loss is a plain function ``(scores, options) -> LossOutput`` wrapped by :func:`define_loss`, which records its
options model (pydantic) and its declarations. The function returns one loss per row of its scores, (B,) per prompt
or (N,) per preference pair (:class:`~prefopt.types.LossOutput`); the bound loss averages them and returns the
scalar to the engine (:class:`~prefopt.types.BatchLoss`). The engine reads the declarations (does it need the reference?
token-level log-probs? lengths? is it listwise?) and never the loss's name. Declarations are given in one place,
``define_loss(declarations=...)``, and read in one: :meth:`LossDefinition.declarations` of some options.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from prefopt.types import BatchLoss, LossOutput, Scores


class LossOptions(BaseModel):
    """Base of every loss's options: immutable, and unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LossOptionsError(ValueError):
    """Options that the loss's own options model rejects."""


@dataclass(frozen=True)
class Declarations:
    """What a loss needs from the engine and which theoretical properties it claims.

    Needs:
        needs_reference: reads ``Scores.reference`` (the engine builds the reference cache).
        needs_token_logps: reads ``Scores.token_policy`` / ``token_mask``.
        length_normalized: reads ``Scores.lengths``.
        listwise: accepts any K >= 2 with ``valid`` and ties in ``ranks``; False means pairwise only (K = 2),
            and K-way rankings are decomposed into pairs before the loss sees them.
        accepts_ties: a listwise loss takes tied ranks (False: it raises ValueError on a tied ranking, and the
            tie properties of :mod:`prefopt.verify` are skipped).
    Reports:
        likelihood: the loss maximises the likelihood of the best responses (SFT): reports show the held-out
            negative log-likelihood per token of the best response and its perplexity first, and the preference
            metrics of the policy's log-probs second.
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
        target_margin: the margin m = h_w - h_l at which the per-pair loss, as a function of m, is smallest
            (IPO: 1 / (2 tau); cDPO: log((1 - eps) / eps) / beta), or None when the loss claims no finite
            minimiser. A function of the options like every declaration.
        claims: free-form names of further properties the loss claims, for the properties that a plugin ships
            beside its loss (entry-point group ``prefopt.properties``); a property whose skip rule is
            ``unless_claimed(name)`` runs on the losses that list ``name`` here.
        bounded_below: a number the loss never goes below, whatever the scores (0 for a negative log-likelihood,
            a square or a KL divergence; a loose bound is fine), or None when the loss claims no lower bound
            (rDPO's de-biased loss falls without limit).
    """

    needs_reference: bool = True
    needs_token_logps: bool = False
    length_normalized: bool = False
    listwise: bool = False
    accepts_ties: bool = True
    likelihood: bool = False
    reward_difference: bool = True
    bradley_terry: bool = False
    monotone: bool = True
    per_prompt: bool = True
    target_margin: float | None = None
    claims: frozenset[str] = frozenset()
    bounded_below: float | None = None


#: ``function(scores, options) -> LossOutput`` with ``loss`` (B,) per prompt, or (N,) per pair for a pairwise loss
LossFunction = Callable[[Scores, Any], LossOutput]


@dataclass(frozen=True)
class LossDefinition:
    """A loss as a plugin provides it (made by :func:`define_loss`): its function, options model and summary."""

    name: str
    function: LossFunction
    options: type[LossOptions]
    summary: str
    _declare: Callable[[Any], Declarations]
    doc: str = ""

    def declarations(self, options: LossOptions) -> Declarations:
        """The loss's declarations for ``options`` (an instance of :attr:`options`)."""
        return self._declare(options)


def define_loss(
    name: str,
    *,
    options: type[LossOptions] = LossOptions,
    declarations: Declarations | Callable[[Any], Declarations] = Declarations(),
    summary: str | None = None,
) -> Callable[[LossFunction], LossDefinition]:
    """Decorator turning ``function(scores, options) -> LossOutput`` into a :class:`LossDefinition`.

    The function returns per-row losses, never their mean: ``loss`` (B,) for a listwise loss, (N,) for a pairwise
    one (its scores are the N preference pairs, (N, 2)), and ``rewards`` of the shape of ``scores.policy``.

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
            _declare=declare,
            doc=doc,
        )

    return wrap


class TrainingLoss(Protocol):
    """What the engine trains and evaluates with: a bound loss or a weighted sum of bound losses."""

    @property
    def name(self) -> str: ...

    @property
    def declarations(self) -> Declarations:
        """The needs the engine serves (reference, token-level log-probs) and the claimed properties."""
        ...

    def __call__(self, scores: Scores) -> BatchLoss:
        """The scalar mean loss over the batch's prompts, (B, K) detached rewards and metrics."""
        ...

    def settings(self) -> dict[str, Any] | list[dict[str, Any]]:
        """What the loss computes (name, pairs, every option; per part with its weight for a sum)."""
        ...

    def describe(self) -> str:
        """One line for the settings block."""
        ...
