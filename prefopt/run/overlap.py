"""Whether ``prefopt eval`` measures a trained model on examples its run trained on.

A ``final/`` directory records the run's resolved configuration (``prefopt.yaml``). Its training split is made
again from that configuration, as training made it (the same data, split seed and ``data.eval_fraction``,
tokenised with the evaluated model's tokenizer, which the run saved), and the content keys of its examples
(:func:`prefopt.data.keys.example_key`: prompt, responses and ranking, whatever file or row they came from) are
compared with those of the evaluated examples. Runs given their records in memory (``prefopt.train(train=...)``)
recorded no data path, so their training data cannot be made again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from prefopt.config import RunConfig, load_config
from prefopt.data.batch import TokenizedExample
from prefopt.run.data import prepare_splits
from prefopt.run.directory import recorded_config_file


@dataclass(frozen=True)
class Overlap:
    """``trained``: how many of the ``evaluated`` examples were in the run's training split (read from
    ``recorded``, the run's ``prefopt.yaml``, whose ``data`` it came from)."""

    trained: int
    evaluated: int
    recorded: str
    data: str

    def note(self) -> str:
        if not self.trained:
            return f"none of the {self.evaluated} evaluated examples is in the training split of {self.data}"
        return (
            f"note: {self.trained} of the {self.evaluated} evaluated examples are in the training split this model "
            f"was trained on ({self.data}, recorded in {self.recorded}): on them the metrics measure fit, not "
            f"generalisation"
        )


def describe_data(config: RunConfig) -> str:
    """``data.path X (split S)`` or ``the bundled quickstart data``."""
    if config.data.path is None:
        return "the bundled quickstart data"
    return f"data.path {config.data.path}" + (f" (split {config.data.split})" if config.data.split else "")


def training_overlap(
    config: RunConfig, evaluated: Sequence[TokenizedExample], tokenizer: PreTrainedTokenizerBase
) -> Overlap | None:
    """How many of the ``evaluated`` examples (tokenised by the evaluated model's ``tokenizer``) the run that
    trained ``config.model.path`` trained on; None when that model records no run.

    Raises:
        OSError, ValueError: the recorded training data cannot be read (moved, changed, or a Hub id offline).
    """
    recorded_file = recorded_config_file(config.model.path)
    if recorded_file is None:
        return None
    recorded = load_config(recorded_file)
    with warnings.catch_warnings():  # the training run warned about its data already
        warnings.simplefilter("ignore")
        train = prepare_splits(recorded, tokenizer).train
    keys = {example.key for example in train}
    trained = sum(example.key in keys for example in evaluated)
    return Overlap(trained, len(evaluated), str(recorded_file), describe_data(recorded))


def overlap_note(config: RunConfig, evaluated: Sequence[TokenizedExample], tokenizer: PreTrainedTokenizerBase):
    """``(trained examples or None, the line to print or None)`` of :func:`training_overlap`; a recorded training
    data that no longer loads is said, not raised."""
    try:
        overlap = training_overlap(config, evaluated, tokenizer)
    except (OSError, ValueError) as error:
        return None, f"cannot tell whether the run trained on these examples: its training data did not load ({error})"
    return (None, None) if overlap is None else (overlap.trained, overlap.note())
