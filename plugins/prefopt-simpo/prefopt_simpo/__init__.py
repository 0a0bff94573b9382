"""SimPO: Simple Preference Optimization with a reference-free reward (Meng et al. 2024, arXiv 2405.14734).

The implicit reward is the length-normalised policy log-prob (paper eq. 4)

    r_SimPO(x, y) = beta / |y| * log pi_theta(y | x),

and the loss is the Bradley-Terry likelihood with a target reward margin gamma (paper eq. 6)

    L_SimPO = -log sigma( beta / |y_w| * log pi_theta(y_w|x) - beta / |y_l| * log pi_theta(y_l|x) - gamma ).

No reference model is needed. The paper's defaults are beta = 2.0 and gamma / beta = 0.5 (its code calls this
ratio ``gamma_beta_ratio``), so gamma = 1.0 here; ``label_smoothing`` eps gives the conservative variant
-(1 - eps) log sigma(z) - eps log sigma(-z), z the margin above.

Adding one constant c to every token log-prob of a prompt's responses moves all its rewards by beta * c and leaves
the loss unchanged; the declarations claim it (``per_token_shift``) and :mod:`prefopt_simpo.properties` ships the
property that ``prefopt verify`` checks it with.
"""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from prefopt import Declarations, LossOptions, LossOutput, Scores, define_loss

__all__ = ["PER_TOKEN_SHIFT", "SimPOOptions", "simpo"]

#: the claim SimPO makes beyond prefopt's declarations, checked by the property of :mod:`prefopt_simpo.properties`
PER_TOKEN_SHIFT = "per_token_shift"


class SimPOOptions(LossOptions):
    beta: float = Field(2.0, gt=0, description="reward scale; 2.0 as in the paper's defaults")
    gamma: float = Field(1.0, ge=0, description="target reward margin; gamma / beta = 0.5 as in the paper")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="probability eps that a label is flipped")


def _declare(options: SimPOOptions) -> Declarations:
    return Declarations(
        needs_reference=False,
        length_normalized=True,
        listwise=False,  # K-way rankings reach SimPO as pairs
        # rewards are log pi / |y|: adding f(x) to both log-probs moves the margin by f(x) (1/|y_w| - 1/|y_l|)
        reward_difference=False,
        bradley_terry=False,  # a margin gamma and per-token normalisation, not -log sigma(beta (h_w - h_l))
        # with eps > 0 the loss is smallest at a finite margin and rises beyond it
        monotone=options.label_smoothing == 0,
        # rewards beta * log pi / |y|: adding c to every token log-prob of a prompt moves them all by beta * c;
        # checked by the property this package ships (prefopt_simpo.properties)
        claims=frozenset({PER_TOKEN_SHIFT}),
        bounded_below=0.0,  # -log sigma(.) >= 0, smoothed or not
    )


@define_loss("simpo", options=SimPOOptions, declarations=_declare)
def simpo(scores: Scores, options: SimPOOptions) -> LossOutput:
    """SimPO: -log sigma(beta * log pi(y_w)/|y_w| - beta * log pi(y_l)/|y_l| - gamma) (Meng et al. 2024, eq. 6).

    Args:
        scores: pairs, shapes (N, 2) with column 0 chosen and column 1 rejected; reads ``policy`` (summed
            response log-probs) and ``lengths`` (response token counts).
        options: beta, gamma, label_smoothing.

    Returns:
        loss (N,) per pair; rewards (N, 2) = beta * log pi(y) / |y| (eq. 4); metrics: the mean margin.
    """
    rewards = options.beta * scores.policy / scores.lengths  # (N, 2)
    margin = rewards[:, 0] - rewards[:, 1] - options.gamma  # (N,)
    eps = options.label_smoothing
    loss = -(1.0 - eps) * F.logsigmoid(margin) - eps * F.logsigmoid(-margin)
    return LossOutput(loss=loss, rewards=rewards.detach(), metrics={"margin": float(margin.detach().mean())})
