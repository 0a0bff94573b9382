"""What a run needs before its first step: the tokenised splits and the policy's source.

Shared by ``prefopt train``, ``prefopt eval`` and ``prefopt cache``; the reference lives in :mod:`prefopt.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
from transformers import PreTrainedTokenizerBase

from prefopt import quickstart
from prefopt.config import RunConfig
from prefopt.data import load_preferences, split_examples, tokenize_examples
from prefopt.data.batch import TokenizedExample
from prefopt.engine.models import ModelSource, resolve_source

QUICKSTART_SEED = 1234


@dataclass
class Splits:
    """Tokenised training and held-out examples, with the human-readable reports of how they were made."""

    train: list[TokenizedExample]
    eval: list[TokenizedExample]
    reports: list[str]


def _load(path: str | None, config: RunConfig) -> tuple[list, str]:
    if path is None:
        records = quickstart.generate(config.data.quickstart_size, seed=QUICKSTART_SEED)
        source = datasets.Dataset.from_list(records)
    else:
        source = path
    examples, report = load_preferences(source, format=config.data.format, on_error=config.data.on_error)
    return examples, report.summary()


def _tokenize(examples: list, config: RunConfig, tokenizer: PreTrainedTokenizerBase, name: str, *, required: bool):
    ids, report = tokenize_examples(
        examples,
        tokenizer,
        max_length=config.data.max_length,
        max_prompt_length=config.data.max_prompt_length,
        on_overflow=config.data.on_overflow,
    )
    report.check_kept(name, required=required)
    return ids, f"{name}: {report.summary()}"


def prepare_splits(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> Splits:
    """Load, validate, split and tokenise the configured data (the bundled quickstart data when no path)."""
    examples, load_report = _load(config.data.path, config)
    reports = [load_report]
    if config.data.eval_path is not None:
        train = examples
        held_out, eval_report = _load(config.data.eval_path, config)
        reports.append(eval_report)
    else:
        train, held_out = split_examples(examples, config.data.eval_fraction, seed=config.seed)
    train_ids, train_report = _tokenize(train, config, tokenizer, "train", required=True)
    eval_ids, eval_report = _tokenize(held_out, config, tokenizer, "eval", required=False)
    return Splits(train=train_ids, eval=eval_ids, reports=[*reports, train_report, eval_report])


def prepare_evaluation_data(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> Splits:
    """Every example of ``data.eval_path`` (or of ``data.path`` when there is none) as the held-out split."""
    examples, load_report = _load(config.data.eval_path or config.data.path, config)
    eval_ids, eval_report = _tokenize(examples, config, tokenizer, "eval", required=True)
    return Splits(train=[], eval=eval_ids, reports=[load_report, eval_report])


def policy_source(config: RunConfig, tokenizer: PreTrainedTokenizerBase) -> ModelSource:
    return resolve_source(config.model.path, config.model, len(tokenizer), config.seed)
