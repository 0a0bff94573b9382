"""``vader``: VADER's compound sentiment polarity (Hutto & Gilbert 2014), from the ``vadersentiment`` package.

In the sentiment experiment it plays the DPO paper's ground-truth reward classifier (section 6.1): positive
text scores near +1, negative text near -1, neutral text 0.
"""

from __future__ import annotations

from collections.abc import Sequence


class VaderScorer:
    """VADER compound sentiment in [-1, 1] of the prompt plus its completion (or of the completion alone).

    Options: ``include_prompt`` = true scores ``prompt + completion``, the whole text a reader sees; false
    scores the completion alone. Needs ``pip install vadersentiment`` (the ``experiments`` extra).
    """

    def __init__(self, include_prompt: bool = True) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # optional: prefopt[experiments]

        self.include_prompt = include_prompt
        self.analyzer = SentimentIntensityAnalyzer()

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        texts = [p + c for p, c in zip(prompts, completions, strict=True)] if self.include_prompt else completions
        return [self.analyzer.polarity_scores(text)["compound"] for text in texts]
