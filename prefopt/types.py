"""The data a loss receives and returns, and the normalised preference example.

Shapes: B prompts in a batch, K response slots per prompt, T response tokens.
Columns follow the ranking: column 0 holds the best response (pairwise data: K = 2, chosen then rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Scores:
    """Everything a loss may read about one batch.

    Attributes:
        policy: (B, K) summed response-token log-probs log pi_theta(y_k | x).
        reference: (B, K) the same under the frozen reference pi_ref, or None for reference-free runs.
        lengths: (B, K) response token counts, or None when unknown (a length-normalised loss refuses that).
        valid: (B, K) bool, False for padding slots of prompts that carry fewer than K responses.
        ranks: (B, K) long, 0 for the best; equal ranks within a row are ties. Columns are sorted by rank.
            Defaults to ``0, 1, ..., K-1`` (a strict ranking in column order).
        token_policy: (B, K, T) per-token policy log-probs, filled only for losses that declare
            ``needs_token_logps``.
        token_mask: (B, K, T) bool, True on real response tokens of ``token_policy``.
    """

    policy: Tensor
    reference: Tensor | None = None
    lengths: Tensor | None = None
    valid: Tensor | None = None
    ranks: Tensor | None = None
    token_policy: Tensor | None = None
    token_mask: Tensor | None = None

    def __post_init__(self) -> None:
        if self.policy.dim() != 2:
            raise ValueError(f"Scores.policy must have shape (B, K); got {tuple(self.policy.shape)}")
        batch, slots = self.policy.shape
        device = self.policy.device
        if self.reference is not None and self.reference.shape != self.policy.shape:
            raise ValueError(
                f"Scores.reference has shape {tuple(self.reference.shape)}, policy {tuple(self.policy.shape)}"
            )
        if self.valid is None:
            self.valid = torch.ones(batch, slots, dtype=torch.bool, device=device)
        if self.ranks is None:
            self.ranks = torch.arange(slots, device=device).expand(batch, slots).clone()
        for name in ("lengths", "valid", "ranks"):
            value = getattr(self, name)
            if value is not None and value.shape != self.policy.shape:
                raise ValueError(f"Scores.{name} has shape {tuple(value.shape)}, policy {tuple(self.policy.shape)}")
        if (self.token_policy is None) != (self.token_mask is None):
            raise ValueError("Scores.token_policy and Scores.token_mask must be given together")

    @property
    def batch_size(self) -> int:
        return self.policy.shape[0]

    @property
    def num_slots(self) -> int:
        return self.policy.shape[1]

    def log_ratio(self, *, reference_free: bool = False, length_normalize: bool = False) -> Tensor:
        """(B, K) h = log pi_theta(y|x) - log pi_ref(y|x) (DPO paper eq. 7); log pi_theta alone without a reference.

        Args:
            reference_free: ignore ``reference`` and use log pi_theta alone (pi_ref uniform).
            length_normalize: divide each log-prob by its response length (padding slots count as length 1).

        Raises:
            ValueError: ``length_normalize`` while ``lengths`` is None.
        """
        policy, reference = self.policy, None if reference_free else self.reference
        if length_normalize:
            if self.lengths is None:
                raise ValueError("length-normalised log-ratios need Scores.lengths, which is None")
            lengths = self.lengths.clamp(min=1)  # padding slots may carry length 0
            policy = policy / lengths
            reference = None if reference is None else reference / lengths
        return policy if reference is None else policy - reference


@dataclass
class LossOutput:
    """What a loss function returns: one loss value per row of the Scores it was given, not yet averaged.

    A listwise loss sees the whole batch, B prompts of K responses; a pairwise-only loss sees N preference pairs
    (K = 2), into which prefopt splits each prompt's ranking. Either way the function returns one value per row;
    the bound loss (:class:`prefopt.losses.Loss`) checks the shapes, averages and returns a :class:`BatchLoss`.

    Attributes:
        loss: (B,) one loss per prompt (listwise) or (N,) one per preference pair (pairwise), with gradients.
        rewards: (B, K) or (N, 2) implicit rewards (e.g. beta * h for DPO, eq. 5), detached; padding slots are
            arbitrary.
        metrics: extra float metrics the loss wants logged (averaged over prompts).
    """

    loss: Tensor
    rewards: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class BatchLoss:
    """What a bound loss returns to the engine: the batch's loss reduced to the scalar that training differentiates.

    Attributes:
        loss: scalar, the mean over the batch's prompts that express a preference of each prompt's loss (a pairwise
            loss's pair losses are first averaged per prompt; a loss declaring ``per_prompt=False`` averages over
            all its pairs).
        rewards: (B, K) detached implicit rewards of the batch's responses (a pairwise loss's rewards averaged over
            the pairs each response appears in); padding slots are arbitrary.
        metrics: the loss's metrics.
        example_losses: (B,) detached per-prompt losses whose mean over the prompts with a preference is
            ``loss``, for a loss that declares ``per_prompt`` (the standard error of the held-out loss needs them);
            None otherwise.
    """

    loss: Tensor
    rewards: Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    example_losses: Tensor | None = None


@dataclass(frozen=True)
class RankedExample:
    """One prompt with K >= 2 responses and their ranks (0 = best; equal ranks are ties).

    ``prompt`` and each response are plain strings or tuples of chat messages (``{"role": ..., "content": ...}``).
    Responses are sorted by rank, best first. ``source`` says where the example came from (e.g.
    ``"train.jsonl, row 12"``) for messages; it takes no part in equality or in the example key.
    ``finished`` says, per response, whether it ended (a sampled response that stopped at EOS: ``True``) or was
    cut (at a sampler's token limit: ``False``); only a finished response is encoded with EOS. ``None`` (human
    data) counts every response as finished.
    """

    prompt: str | tuple
    responses: tuple
    ranks: tuple[int, ...]
    source: str | None = field(default=None, compare=False)
    finished: tuple[bool, ...] | None = None
