"""Sampling completions from a causal language model: ``prefopt sample`` and the experiments' evaluations."""

from prefopt.sampling.generate import GenerationSettings, PromptSamples, sample_completions
from prefopt.sampling.logprobs import sample_log_prob_parts, sample_log_probs

__all__ = ["GenerationSettings", "PromptSamples", "sample_completions", "sample_log_prob_parts", "sample_log_probs"]
