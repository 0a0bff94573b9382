"""The layout of a rounds output directory, in one place.

::

    OUT/
      rounds.yaml            the resolved rounds configuration (a resume must match it, but for `rounds`)
      rounds.json            every round's report, written after each round
      start/                 the starting model, saved when it is a preset (a local or Hub model is used in place)
      round-NN/
        samples.jsonl        the round's training prompts: K responses of the policy it starts from, `finished`
                             and `scores` (the `scored` format)
        held-out.jsonl       the held-out prompts: K responses of the round's trained policy, with `scores`
        train/               the round's training run (prefopt.run.directory); train/final/ is the new policy
        report.json          the round's report, written last: a round with one is complete

Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefopt.run.directory import RunDirectory


@dataclass(frozen=True)
class RoundDirectory:
    """The files of one round in ``root`` (``OUT/round-NN``)."""

    root: Path

    @property
    def samples_file(self) -> Path:
        return self.root / "samples.jsonl"

    @property
    def held_out_file(self) -> Path:
        return self.root / "held-out.jsonl"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def policy_dir(self) -> Path:
        """The policy the round trains: ``train/final``."""
        return RunDirectory(self.train_dir).final_dir

    @property
    def report_file(self) -> Path:
        return self.root / "report.json"


@dataclass(frozen=True)
class RoundsDirectory:
    """The files of a rounds run in ``root``."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "rounds.yaml"

    @property
    def summary_file(self) -> Path:
        return self.root / "rounds.json"

    @property
    def start_dir(self) -> Path:
        return self.root / "start"

    def round(self, number: int) -> RoundDirectory:
        """``round-NN`` of round ``number`` (1-based)."""
        return RoundDirectory(self.root / f"round-{number:02d}")
