"""A run's data: records from ``config.data`` (a file, a saved dataset, a Hub id, or the bundled quickstart) or
given in memory, validated, split and tokenised.

In-memory records are a sequence of dicts in any format of :mod:`prefopt.data.records` or of
:class:`~prefopt.types.RankedExample`; they go through exactly the validation a file's rows do, and their
reports name them ``records`` with their 0-based position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from prefopt import quickstart
from prefopt.config import ConfigError, DataConfig, RunConfig
from prefopt.data import load_preferences, split_examples, tokenize_examples
from prefopt.data.batch import TokenizedExample
from prefopt.data.hub import open_dataset
from prefopt.types import RankedExample

Records = Sequence[dict[str, Any] | RankedExample]

QUICKSTART_SEED = 1234
UNKNOWN_TOKEN_LIMIT = 0.05  # share of <unk> tokens above which the tokenizer does not fit the data


@dataclass
class Splits:
    """Tokenised training and held-out examples, with the human-readable reports of how they were made.

    ``skipped``: rows left out while loading; ``truncated_prompts`` / ``truncated_responses``: examples whose
    prompt / some response was cut; ``dropped``: examples left out by tokenisation (all files and splits together);
    ``in_memory``: the splits (``train``, ``eval``) whose records were given in memory rather than configured.
    """

    train: list[TokenizedExample]
    eval: list[TokenizedExample]
    reports: list[str]
    skipped: int = 0
    truncated_prompts: int = 0
    truncated_responses: int = 0
    dropped: int = 0
    in_memory: frozenset[str] = frozenset()


def _load(path: str | None, config: RunConfig, split: str | None):
    """The examples of ``path`` (its ``split``): ``data.subset`` and ``data.data_dir`` apply to every path but a
    local file, which a held-out ``data.eval_path`` may be beside a dataset ``data.path``."""
    data = config.data
    if path is None:
        records = quickstart.generate(data.quickstart_size, seed=QUICKSTART_SEED)
        source = datasets.Dataset.from_list(records)
    elif Path(path).expanduser().is_file() and path == data.eval_path:
        source = open_dataset(path, split=split)
    else:
        source = open_dataset(path, subset=data.subset, data_dir=data.data_dir, split=split)
    return load_preferences(
        source, format=data.format, on_error=data.on_error, max_record_bytes=data.max_record_bytes
    )


def _records(records: Records, config: RunConfig):
    """The examples of in-memory ``records`` (dicts in any documented format, or RankedExample)."""
    rows = [_as_row(record) for record in records]
    data = config.data
    return load_preferences(rows, format=data.format, on_error=data.on_error, max_record_bytes=data.max_record_bytes)


def _as_row(record: dict[str, Any] | RankedExample) -> dict[str, Any]:
    if not isinstance(record, RankedExample):
        return record
    row = {"prompt": record.prompt, "responses": list(record.responses), "ranks": list(record.ranks)}
    finished = getattr(record, "finished", None)
    return row if finished is None else {**row, "finished": list(finished)}


def _held_out(data: DataConfig) -> tuple[str | None, str | None]:
    """Where held-out examples come from: ``data.eval_path`` (its split ``data.eval_split``), else the split
    ``data.eval_split`` of ``data.path``."""
    if data.eval_path is not None:
        return data.eval_path, data.eval_split
    return data.path, data.eval_split


def _tokenize(examples: list, config: RunConfig, tokenizer: PreTrainedTokenizerBase, name: str, *, required: bool):
    ids, report = tokenize_examples(
        examples,
        tokenizer,
        max_length=config.data.max_length,
        max_prompt_length=config.data.max_prompt_length,
        on_overflow=config.data.on_overflow,
    )
    report.check_kept(name, required=required)
    check_known_tokens(ids, tokenizer, config, name)
    return ids, report


def check_known_tokens(
    examples: list[TokenizedExample], tokenizer: PreTrainedTokenizerBase, config: RunConfig, part: str
) -> None:
    """Refuse a tokenizer that maps more than 5% of the tokens of ``part`` to its unknown token.

    Raises:
        ConfigError: naming the tokenizer, the share of unknown tokens and the fix.
    """
    unknown_id = tokenizer.unk_token_id
    if unknown_id is None:
        return
    total = unknown = 0
    for example in examples:
        for ids in (example.prompt_ids, *example.response_ids):
            total += len(ids)
            unknown += ids.count(unknown_id)
    if not total or unknown / total <= UNKNOWN_TOKEN_LIMIT:
        return
    if config.model.path is None:
        which = f"model.tokenizer={config.model.tokenizer}"
        fix = "set model.tokenizer=bytes (one token per byte, any text) or give a model.path with its own tokenizer"
    else:
        which = f"the tokenizer of {config.model.path}"
        fix = "use a model whose tokenizer covers this text"
    raise ConfigError(
        f"{which} maps {unknown / total:.0%} of the {total} tokens of the {part} examples to "
        f"{tokenizer.unk_token} (more than {UNKNOWN_TOKEN_LIMIT:.0%}): it does not fit this data; {fix}"
    )


def prepare_splits(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase,
    *,
    train: Records | None = None,
    eval: Records | None = None,
) -> Splits:
    """Load, validate, split and tokenise the training data: the records ``train`` when given, else the
    configured data (the bundled quickstart data when no path).

    The held-out part is the records ``eval`` when given, else ``data.eval_path`` (its split
    ``data.eval_split``), or the split ``data.eval_split`` of ``data.path``, or else ``data.eval_fraction`` of
    the training examples.
    """
    data = config.data
    if train is not None:
        examples, load_report = _records(train, config)
    else:
        examples, load_report = _load(data.path, config, data.split)
    loads = [load_report]
    if eval is not None:
        train_examples = examples
        held_out, eval_load = _records(eval, config)
        loads.append(eval_load)
    elif data.eval_path is not None or data.eval_split is not None:
        train_examples = examples
        path, split = _held_out(data)
        held_out, eval_load = _load(path, config, split)
        loads.append(eval_load)
    else:
        train_examples, held_out = split_examples(examples, config.data.eval_fraction, seed=config.seed)
    train_ids, train_report = _tokenize(train_examples, config, tokenizer, "train", required=True)
    eval_ids, eval_report = _tokenize(held_out, config, tokenizer, "eval", required=False)
    splits = _splits(train_ids, eval_ids, loads, {"train": train_report, "eval": eval_report})
    splits.in_memory = frozenset(name for name, given in (("train", train), ("eval", eval)) if given is not None)
    return splits


def prepare_evaluation_data(
    config: RunConfig, tokenizer: PreTrainedTokenizerBase, *, data: Records | None = None
) -> Splits:
    """Every example of the records ``data`` when given, else of ``data.eval_path`` (its split
    ``data.eval_split``), or else of ``data.path`` (its split ``data.eval_split``, else ``data.split``), as the
    held-out split."""
    records, data = data, config.data
    if records is not None:
        examples, load_report = _records(records, config)
    elif data.eval_path is None and data.eval_split is None:
        examples, load_report = _load(data.path, config, data.split)
    else:
        path, split = _held_out(data)
        examples, load_report = _load(path, config, split)
    eval_ids, eval_report = _tokenize(examples, config, tokenizer, "eval", required=True)
    splits = _splits([], eval_ids, [load_report], {"eval": eval_report})
    splits.in_memory = frozenset({"eval"}) if records is not None else frozenset()
    return splits


def _splits(train: list, held_out: list, loads: list, tokenized: dict) -> Splits:
    return Splits(
        train=train,
        eval=held_out,
        reports=[*(r.summary() for r in loads), *(f"{name}: {r.summary()}" for name, r in tokenized.items())],
        skipped=sum(r.num_skipped for r in loads),
        truncated_prompts=sum(r.truncated_prompts for r in tokenized.values()),
        truncated_responses=sum(r.truncated_responses for r in tokenized.values()),
        dropped=sum(sum(r.dropped.values()) for r in tokenized.values()),
    )

