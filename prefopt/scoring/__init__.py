"""Scorers: reward functions of (prompt, completion) texts, found through the entry-point group ``prefopt.scorers``.

Built-ins: ``vader`` (lexicon sentiment, the ``vadersentiment`` package) and ``hf-classifier`` (a local Hugging
Face sequence-classification model). :func:`score_file` turns ``prefopt sample`` output into scored records.
"""

from prefopt.scoring.catalogue import Scorer, ScorerError, build_scorer, registry, scorer_summary
from prefopt.scoring.records import score_file

__all__ = ["Scorer", "ScorerError", "build_scorer", "registry", "score_file", "scorer_summary"]
