"""``hf-classifier``: the probability of one label under a local Hugging Face sequence-classification model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


class HFClassifierScorer:
    """Probability of one label (option `label`) under a local sequence-classification model directory.

    Options: ``path`` (required; nothing is downloaded), ``label`` (a label name of the model's ``id2label``
    or an index; default the last label, e.g. POSITIVE of a NEGATIVE/POSITIVE model), ``include_prompt``
    (true: classify prompt + completion), ``batch_size`` (texts per forward pass), ``max_length`` (tokens).
    """

    def __init__(
        self,
        path: str,
        label: str | int | None = None,
        include_prompt: bool = True,
        batch_size: int = 32,
        max_length: int = 512,
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from prefopt.scoring.catalogue import ScorerError

        location = Path(path).expanduser()
        if not (location / "config.json").is_file():
            raise ScorerError(f"hf-classifier path {location}: expected a model directory with config.json")
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        self.model = AutoModelForSequenceClassification.from_pretrained(location).eval()
        if self.tokenizer.pad_token is None:  # GPT-style classifiers: pad with EOS, as they were trained
            self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        labels = {str(name): int(index) for index, name in self.model.config.id2label.items()}
        if label is None:
            self.label = self.model.config.num_labels - 1
        elif str(label) in labels:
            self.label = labels[str(label)]
        elif isinstance(label, int) and 0 <= label < self.model.config.num_labels:
            self.label = label
        else:
            raise ScorerError(f"hf-classifier label {label!r} is not one of the model's labels {sorted(labels)}")
        self.include_prompt, self.batch_size, self.max_length = include_prompt, batch_size, max_length

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        texts = [p + c for p, c in zip(prompts, completions, strict=True)] if self.include_prompt else completions
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            encoded = self.tokenizer(
                chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            logits = self.model(**encoded).logits  # (n, num_labels)
            scores += logits.float().softmax(dim=-1)[:, self.label].tolist()
        return scores
