"""The sentiment experiment's parts against independent computations: KL estimates, best-of-N, prefixes, SFT."""

from __future__ import annotations

import gzip
import json
import math

import pytest
import torch

from prefopt.data.errors import PreferenceDataError
from prefopt.experiments.sentiment.frontier import best_of_n, best_of_n_kl, evaluate_policy
from prefopt.experiments.sentiment.imdb import prefixes, read_reviews
from prefopt.experiments.sentiment.report import table
from prefopt.experiments.sentiment.sft import review_batches
from prefopt.model.load import byte_tokenizer
from prefopt.sampling import (
    GenerationSettings,
    PromptSamples,
    sample_completions,
    sample_log_prob_parts,
    sample_log_probs,
)
from tests.conftest import make_tiny_llama


def summed_log_prob(model, prompt: tuple[int, ...], completion: tuple[int, ...]) -> float:
    """log model(completion | prompt): one unpadded forward pass, the next-token log-probs summed."""
    with torch.no_grad():
        log_probs = model(input_ids=torch.tensor([prompt + completion])).logits[0].log_softmax(-1)
    return sum(float(log_probs[len(prompt) - 1 + t, token]) for t, token in enumerate(completion))


def test_sample_log_probs_are_the_summed_next_token_log_probs_of_each_completion():
    model = make_tiny_llama(vocab_size=32)
    samples = [
        PromptSamples("a", (1, 5, 6), ((7, 8, 2), (9,)), ("", ""), (True, False)),
        PromptSamples("b", (3,), ((4, 4), (11, 12, 13, 2)), ("", ""), (False, True)),
    ]
    got = sample_log_probs(model, samples, pad_token_id=0)
    for p, sample in enumerate(samples):
        for k, completion in enumerate(sample.completion_ids):
            assert float(got[p, k]) == pytest.approx(summed_log_prob(model, sample.prompt_ids, completion), abs=1e-4)


def test_the_eos_part_of_a_log_prob_is_the_final_eos_token_of_a_finished_completion_and_0_of_a_cut_one():
    model = make_tiny_llama(vocab_size=32)
    samples = [
        PromptSamples("a", (1, 5, 6), ((7, 8, 2), (9,)), ("", ""), (True, False)),
        PromptSamples("b", (3,), ((4, 4), (11, 12, 13, 2)), ("", ""), (False, True)),
    ]
    summed, eos = sample_log_prob_parts(model, samples, pad_token_id=0)
    assert torch.equal(summed, sample_log_probs(model, samples, pad_token_id=0))
    for p, sample in enumerate(samples):
        for k, (completion, finished) in enumerate(zip(sample.completion_ids, sample.finished, strict=True)):
            whole = summed_log_prob(model, sample.prompt_ids, completion)
            without_last = summed_log_prob(model, sample.prompt_ids, completion[:-1])
            expected = whole - without_last if finished else 0.0
            assert float(eos[p, k]) == pytest.approx(expected, abs=1e-4)


def likely_to_stop(vocab_size: int, seed: int, eos: int = 2) -> torch.nn.Module:
    """A tiny Llama whose output layer has a bias that gives EOS about a third of the probability."""
    model = make_tiny_llama(vocab_size=vocab_size, seed=seed)
    head = torch.nn.Linear(model.lm_head.in_features, vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[eos] = math.log(vocab_size / 2)
    model.lm_head = head
    return model


def test_the_frontier_kl_is_the_mean_log_ratio_of_exactly_the_sampled_tokens():
    tokenizer = byte_tokenizer()
    eos, max_new_tokens = tokenizer.eos_token_id, 4
    policy, reference = (likely_to_stop(len(tokenizer), seed) for seed in (0, 1))
    prompts, settings = ["the film", "ok", "a plot"], GenerationSettings(k=4, max_new_tokens=max_new_tokens, seed=5)
    point = evaluate_policy(policy, reference, tokenizer, prompts, lambda p, c: [0.0] * len(c), settings)
    samples = sample_completions(policy, tokenizer, prompts, settings)  # the same seeded draws
    drawn = [(s.prompt_ids, ids) for s in samples for ids in s.completion_ids]
    # a completion is what was sampled: up to its first EOS if it stopped, all max_new_tokens tokens if it was cut
    for _, ids in drawn:
        assert eos not in ids[:-1] and (ids[-1] == eos or len(ids) == max_new_tokens)
    assert {ids[-1] == eos for _, ids in drawn} == {True, False}  # both kinds are there
    log_ratios = [summed_log_prob(policy, *d) - summed_log_prob(reference, *d) for d in drawn]
    assert point.kl == pytest.approx(sum(log_ratios) / len(log_ratios), abs=1e-4)


def test_best_of_n_takes_the_best_of_each_disjoint_group_of_n_samples():
    rewards = torch.tensor([[0.1, 0.9, -0.5, 0.3], [-0.2, -0.4, 0.8, 0.0]], dtype=torch.float64)
    maxima = best_of_n(rewards, (1, 2, 4))
    assert torch.equal(maxima[1], rewards)  # best-of-1 is the samples themselves
    assert maxima[2].tolist() == [[0.9, 0.3], [-0.2, 0.8]]
    assert maxima[4].tolist() == [[0.9], [0.8]]
    assert best_of_n_kl(1) == 0.0 and best_of_n_kl(4) == pytest.approx(math.log(4) - 0.75)
    with pytest.raises(ValueError, match="multiple of 3"):
        best_of_n(rewards, (3,))


def test_prefixes_are_two_to_eight_tokens_of_their_review():
    tokenizer = byte_tokenizer()
    reviews = ["A wonderful film about nothing at all.", "Dull.", "xy"]
    for review, prefix in zip(reviews, prefixes(reviews * 1, tokenizer, seed=3), strict=True):
        assert review.startswith(prefix) and 1 <= len(prefix) <= 8
    assert prefixes(reviews, tokenizer, seed=3) == prefixes(reviews, tokenizer, seed=3)


def test_reviews_lose_their_tags_and_a_bad_row_names_file_row_and_field(tmp_path):
    path = tmp_path / "train.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"text": "Good.<br /><br />Really   good."}) + "\n")
    assert read_reviews(path, 1, seed=0) == ["Good. Really good."]
    with pytest.raises(PreferenceDataError, match="fewer than the 2 needed"):
        read_reviews(path, 2, seed=0)
    with gzip.open(path, "at") as handle:
        handle.write(json.dumps({"label": "pos"}) + "\n")
    with pytest.raises(PreferenceDataError, match=r"train\.jsonl\.gz, row 2, field 'text'"):
        read_reviews(path, 1, seed=0)


def test_sft_batches_mask_padding_out_of_the_labels_and_end_a_review_with_eos_only_if_it_ended():
    tokenizer = byte_tokenizer()
    reviews = ["abcdef", "xy", "abcd", "longer text here"]
    batches = list(review_batches(reviews, tokenizer, max_tokens=4, batch_size=2, steps=4, seed=0))
    assert len(batches) == 4
    rows = set()
    for ids, labels in batches:
        real = labels != -100
        assert torch.equal(ids[real], labels[real]) and (ids[~real] == tokenizer.pad_token_id).all()
        rows |= {tuple(row[mask].tolist()) for row, mask in zip(ids, real, strict=True)}
    eos = (tokenizer.eos_token_id,)
    text = {review: tuple(tokenizer(review, add_special_tokens=False)["input_ids"]) for review in reviews}
    # the byte tokenizer adds no BOS; a review of at most 4 tokens ends within the window, a longer one is cut
    assert rows == {text["abcdef"][:4], text["xy"] + eos, text["abcd"] + eos, text["longer text here"][:4]}


def test_the_table_has_a_row_per_run_and_seed_with_intervals_and_the_checks():
    point = {"reward": 0.5, "reward_ci": [0.4, 0.6], "kl": 1.0, "kl_ci": [0.8, 1.3], "kl_eos": 0.25, "finished": 0.5}
    results = {
        "environment": {"trl": "1.16.0"},
        "reference": [{"seed": 0, "reward": 0.1, "reward_ci": [0.0, 0.2], "kl": 0.0, "finished": 0.125}],
        "best_of_n": [{"seed": 0, "n": 2, "reward": 0.3, "reward_ci": [0.2, 0.35], "kl": 0.19}],
        "runs": [
            {
                "name": "rloo b=0.05",
                "family": "rloo",
                "seed": 0,
                "points": [{"step": 4, **point}, {"step": 8, **point, "reward": 0.4, "kl": 2.0, "kl_ci": [1.5, 2.5]}],
            }
        ],
        "checks": [
            {"seed": 0, "pi_ref_vs_best_of_1": {"difference": 0.0, "interval": [0.0, 0.0], "zero_inside": True}}
        ],
        "design_effect": {
            "point": "seed 0 / rloo b=0.05 / step 8",
            "reward": {"clustered_half_width": 0.1, "naive_half_width": 0.05, "design_effect": 4.0},
            "kl": {"clustered_half_width": 0.5, "naive_half_width": 0.5, "design_effect": 1.0},
        },
    }
    lines = table(results).splitlines()
    assert (
        "| RLOO (TRL 1.16.0) | rloo b=0.05 | 0 | 8 | +0.400 [+0.400, +0.600] | 2.00 [1.50, 2.50] | 0.25 | 0.50 | "
        "+0.500 (1.00, 4) |" in lines
    )
    assert "| best-of-N (oracle) | N=2 | 0 | 0 | +0.300 [+0.200, +0.350] | 0.19 (analytic) | - | - | - |" in lines
    assert "| pi_ref (SFT) | - | 0 | 0 | +0.100 [+0.000, +0.200] | 0 | 0 | 0.12 | - |" in lines
    assert any("pi ref vs best of 1" in line and "0 inside" in line for line in lines)
    assert any("design effect 4.00" in line for line in lines)
