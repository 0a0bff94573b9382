"""Hypothesis strategies drawing loss inputs that agree with a loss's declarations.

A :class:`Case` holds plain Python numbers (so hypothesis shrinks them and prints them readably) and builds
:class:`~prefopt.types.Scores` on demand, in any dtype. Every log-prob is <= 0. When the loss declares
``needs_token_logps`` the case carries per-token log-probs and the sequence log-prob is their sum, so
``Scores.policy`` and ``Scores.token_policy`` agree; lengths are the token counts. Rankings are strict
(0, 1, ..., K-1) except in :func:`tied_cases`, whose rows carry ranks with ties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from hypothesis import strategies as st
from torch import Tensor

from prefopt.losses import Declarations
from prefopt.types import Scores

Floats = tuple[float, ...]


@dataclass(frozen=True)
class Row:
    """One prompt's K responses, best first.

    Attributes:
        policy: K summed log-probs log pi_theta(y_k | x).
        reference: K summed log-probs log pi_ref(y_k | x), or None for reference-free losses.
        lengths: K response token counts.
        tokens: K tuples of per-token log-probs (``lengths[k]`` each), or None for sequence-level losses.
        ranks: K non-decreasing ranks, 0 the best, equal ranks are ties; None for the strict ranking 0..K-1.
    """

    policy: Floats
    reference: Floats | None
    lengths: tuple[int, ...]
    tokens: tuple[Floats, ...] | None = None
    ranks: tuple[int, ...] | None = None

    @property
    def num_slots(self) -> int:
        return len(self.policy)


@dataclass(frozen=True)
class Case:
    """A batch of prompts (rows) that may carry different K; padding is added by :meth:`scores`."""

    rows: tuple[Row, ...]

    @property
    def batch_size(self) -> int:
        return len(self.rows)

    def map_rows(self, function) -> Case:
        return Case(tuple(function(row) for row in self.rows))

    def select(self, order: list[int]) -> Case:
        """The rows in ``order`` (a permutation or a single index)."""
        return Case(tuple(self.rows[i] for i in order))

    def scores(
        self, dtype: torch.dtype = torch.float64, *, extra_slots: int = 0, pad_value: float = 0.0, grad: bool = False
    ) -> tuple[Scores, Tensor]:
        """The case as Scores, padded to the largest K plus ``extra_slots``.

        Padding follows the engine's convention: ``valid`` False, rank K (worse than every real response),
        length 0, no tokens, and log-probs ``pad_value``.

        Returns:
            scores: the Scores, (B, K) and, for token-level cases, (B, K, T).
            leaf: the tensor the policy's gradient flows to: ``token_policy`` (B, K, T) for token-level cases,
                else ``policy`` (B, K); it requires grad when ``grad`` is True.
        """
        slots = max(r.num_slots for r in self.rows) + extra_slots
        batch = self.batch_size
        valid = torch.zeros(batch, slots, dtype=torch.bool)
        ranks = torch.full((batch, slots), slots, dtype=torch.long)
        lengths = torch.zeros(batch, slots, dtype=torch.long)
        policy = torch.full((batch, slots), pad_value, dtype=torch.float64)
        reference = torch.full((batch, slots), pad_value, dtype=torch.float64)
        for b, row in enumerate(self.rows):
            k = row.num_slots
            valid[b, :k] = True
            ranks[b, :k] = torch.arange(k) if row.ranks is None else torch.tensor(row.ranks)
            lengths[b, :k] = torch.tensor(row.lengths)
            policy[b, :k] = torch.tensor(row.policy, dtype=torch.float64)
            if row.reference is not None:
                reference[b, :k] = torch.tensor(row.reference, dtype=torch.float64)
        has_reference = self.rows[0].reference is not None
        ref = reference.to(dtype) if has_reference else None
        if self.rows[0].tokens is None:
            leaf = policy.to(dtype).requires_grad_(grad)
            return Scores(policy=leaf, reference=ref, lengths=lengths, valid=valid, ranks=ranks), leaf

        width = max(max(r.lengths) for r in self.rows)
        tokens = torch.zeros(batch, slots, width, dtype=torch.float64)
        mask = torch.zeros(batch, slots, width, dtype=torch.bool)
        for b, row in enumerate(self.rows):
            for k, values in enumerate(row.tokens):
                tokens[b, k, : len(values)] = torch.tensor(values, dtype=torch.float64)
                mask[b, k, : len(values)] = True
        leaf = tokens.to(dtype).requires_grad_(grad)
        summed = (leaf * mask).sum(dim=-1)  # (B, K) sequence log-prob = sum of its tokens
        summed = torch.where(valid, summed, torch.full_like(summed, pad_value))
        scores = Scores(
            policy=summed, reference=ref, lengths=lengths, valid=valid, ranks=ranks, token_policy=leaf, token_mask=mask
        )
        return scores, leaf


def shift_row(row: Row, policy_shift: float, reference_shift: float) -> Row:
    """Add f(x) to every response's policy and/or reference log-prob of the prompt (Lemma 1)."""
    policy = tuple(p + policy_shift for p in row.policy)
    reference = None if row.reference is None else tuple(r + reference_shift for r in row.reference)
    return replace(row, policy=policy, reference=reference)


def log_probs(magnitude: float, size: int) -> st.SearchStrategy[Floats]:
    """``size`` log-probs, each in [-magnitude, 0]."""
    values = st.floats(min_value=-magnitude, max_value=0.0, allow_nan=False, allow_infinity=False)
    return st.tuples(*[values] * size)


@st.composite
def rows(draw, declarations: Declarations, *, slots: int, magnitude: float, max_tokens: int = 3) -> Row:
    """One prompt with ``slots`` responses; log-ratios reach up to ``magnitude`` in size.

    Token-level rows draw ``1..max_tokens`` tokens per response, each in [-magnitude / max_tokens, 0].
    """
    if declarations.needs_token_logps:
        lengths = draw(st.tuples(*[st.integers(1, max_tokens)] * slots))
        tokens = tuple(draw(log_probs(magnitude / max_tokens, n)) for n in lengths)
        policy = tuple(math.fsum(t) for t in tokens)
    else:
        lengths = draw(st.tuples(*[st.integers(1, 8)] * slots))
        tokens = None
        policy = draw(log_probs(magnitude, slots))
    reference = draw(log_probs(magnitude, slots)) if declarations.needs_reference else None
    return Row(policy=policy, reference=reference, lengths=lengths, tokens=tokens)


@st.composite
def cases(
    draw,
    declarations: Declarations,
    *,
    magnitude: float,
    batch: tuple[int, int] = (1, 3),
    slots: tuple[int, int] | None = None,
    ragged: bool = False,
) -> Case:
    """A batch of ``batch[0]..batch[1]`` prompts with K in ``slots`` (one K for all rows unless ``ragged``).

    ``slots`` defaults to 2..4 for listwise losses and 2..3 for pairwise ones (which see K > 2 as pairs).
    """
    low, high = slots or ((2, 4) if declarations.listwise else (2, 3))
    size = draw(st.integers(*batch))
    if ragged:
        counts = draw(st.lists(st.integers(low, high), min_size=size, max_size=size))
    else:
        counts = [draw(st.integers(low, high))] * size
    return Case(tuple(draw(rows(declarations, slots=k, magnitude=magnitude)) for k in counts))


@st.composite
def tied_ranks(draw, slots: tuple[int, int] = (3, 5)) -> tuple[int, ...]:
    """Non-decreasing ranks of K responses, K in ``slots``: fewer rank levels than responses (at least one tie)
    and at least two levels (the prompt still expresses a preference)."""
    size = draw(st.integers(*slots))
    levels = draw(st.integers(2, size - 1))
    cuts = draw(st.lists(st.integers(1, size - 1), min_size=levels - 1, max_size=levels - 1, unique=True))
    return tuple(sum(cut <= slot for cut in cuts) for slot in range(size))


@st.composite
def tied_cases(draw, declarations: Declarations, *, magnitude: float, batch: tuple[int, int] = (1, 3)) -> Case:
    """A batch of prompts whose rankings all have ties (see :func:`tied_ranks`), K = 3..5, ragged."""
    size = draw(st.integers(*batch))
    ranked = [draw(tied_ranks()) for _ in range(size)]
    return Case(tuple(replace(draw(rows(declarations, slots=len(r), magnitude=magnitude)), ranks=r) for r in ranked))
