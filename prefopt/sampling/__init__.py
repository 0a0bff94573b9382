"""Sampling completions from a causal language model: ``prefopt sample`` and the experiments' evaluations."""

from prefopt.sampling.generate import GenerationSettings, PromptSamples, sample_completions

__all__ = ["GenerationSettings", "PromptSamples", "sample_completions"]
