"""The prompts of the rounds: read, split into held-out prompts and a training pool, and sliced per round.

Prompts are read as training data is (:mod:`prefopt.data.readers`: JSON Lines, JSON, Parquet, CSV files, a
directory of them, a ``save_to_disk`` directory or a Hub dataset id), one per row from the column ``prompts.field``.
Without ``prompts.eval_path``, a seeded shuffle puts ``eval_fraction`` of them aside as held-out prompts (at least
one when the fraction is positive). ``pool: reuse`` trains every round on the same first ``per_round`` prompts of
the pool; ``pool: fresh`` on the r-th disjoint slice of ``per_round`` prompts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from prefopt.config import ConfigError
from prefopt.data.errors import EMPTY_TEXT, MISSING_FIELD, NO_EXAMPLES, WRONG_TYPE, PreferenceDataError
from prefopt.data.hub import open_dataset
from prefopt.data.readers import open_sources
from prefopt.iterative.config import PromptsConfig, RoundsConfig

Prompt = str | list


def read_prompt_column(path: str, field: str, split: str | None = None) -> list[Prompt]:
    """The ``field`` of every row of ``path``: a non-empty text or list of chat messages.

    Raises:
        PreferenceDataError: naming the file, the 1-based row and the field of the first bad row.
    """
    prompts = []
    sources, _ = open_sources(open_dataset(path, split=split))
    for source in sources:
        for number, row in source.read():
            where = {"file": source.name, "row": number, "field": field}
            if isinstance(row, PreferenceDataError):
                raise PreferenceDataError(row.message, reason=row.reason, file=source.name, row=number)
            if not isinstance(row, dict) or row.get(field) is None:
                raise PreferenceDataError("is missing", reason=MISSING_FIELD, **where)
            prompt = row[field]
            if not isinstance(prompt, str | list):
                raise PreferenceDataError("must be a text or a list of chat messages", reason=WRONG_TYPE, **where)
            if not prompt:
                raise PreferenceDataError("is empty", reason=EMPTY_TEXT, **where)
            prompts.append(prompt)
    if not prompts:
        raise PreferenceDataError("holds no rows", reason=NO_EXAMPLES, file=path)
    return prompts


@dataclass(frozen=True)
class PromptPlan:
    """Held-out prompts and the training pool, and how many prompts each round trains on."""

    held_out: list[Prompt]
    pool: list[Prompt]
    per_round: int
    fresh: bool

    def for_round(self, round_number: int) -> list[Prompt]:
        """The training prompts of round ``round_number`` (1-based)."""
        start = (round_number - 1) * self.per_round if self.fresh else 0
        return self.pool[start : start + self.per_round]


def plan_prompts(config: RoundsConfig) -> PromptPlan:
    """Read and split the prompts of ``config``.

    Raises:
        PreferenceDataError: a bad prompt row.
        ConfigError: too few prompts for ``per_round``, or for ``rounds`` fresh slices.
    """
    settings: PromptsConfig = config.prompts
    prompts = read_prompt_column(settings.path, settings.field, settings.split)
    if settings.eval_path is not None:
        held_out, pool = read_prompt_column(settings.eval_path, settings.field, settings.split), prompts
    else:
        order = list(range(len(prompts)))
        random.Random(config.seed).shuffle(order)
        count = math.ceil(settings.eval_fraction * len(prompts))
        held_out = [prompts[i] for i in order[:count]]
        pool = [prompts[i] for i in order[count:]]
    per_round = settings.per_round or len(pool)
    fresh = settings.pool == "fresh"
    needed = per_round * config.rounds if fresh else per_round
    if needed > len(pool):
        what = (
            f"prompts.pool=fresh needs rounds x per_round = {needed} prompts"
            if fresh
            else (f"prompts.per_round={per_round} needs as many prompts")
        )
        raise ConfigError(
            f"{what}; {settings.path} leaves {len(pool)} for training after {len(held_out)} held out "
            f"(lower prompts.per_round or rounds, or give more prompts)"
        )
    return PromptPlan(held_out, pool, per_round, fresh)
