"""Preferred fine-tuning (SFT on the best response), the DPO paper's Preferred-FT baseline."""

from __future__ import annotations

from pydantic import Field

from prefopt.losses.declare import Declarations, LossOptions, define_loss
from prefopt.rankings import best_rank
from prefopt.types import LossOutput, Scores


class SFTOptions(LossOptions):
    length_normalize: bool = Field(False, description="divide each log-prob by its response length (per-token NLL)")


def _declare(options: SFTOptions) -> Declarations:
    return Declarations(
        needs_reference=False,
        length_normalized=options.length_normalize,
        listwise=True,
        bounded_below=0.0,  # -log pi >= 0
        likelihood=True,
        reward_difference=False,
        bradley_terry=False,
        monotone=True,
    )


@define_loss("sft", options=SFTOptions, declarations=_declare)
def sft(scores: Scores, options: SFTOptions) -> LossOutput:
    """Preferred-FT: -log pi_theta(y_best | x) (Rafailov et al. 2023, arXiv 2305.18290, section 6).

    Scores are (B, K); the loss reads only the valid slots holding the best (minimum) rank of their prompt and
    averages -log pi over them, so tied best responses share the weight. Returns (B,) losses and, as rewards,
    the (optionally length-normalised) policy log-probs (B, K).
    """
    logp = scores.log_ratio(reference_free=True, length_normalize=options.length_normalize)  # (B, K)
    best = scores.valid & (scores.ranks == best_rank(scores.ranks, scores.valid))  # (B, K)
    loss = -logp.masked_fill(~best, 0.0).sum(dim=1) / best.sum(dim=1).clamp(min=1)
    return LossOutput(loss=loss, rewards=logp.detach())
