"""The deterministic train / held-out split by example key."""

from __future__ import annotations

import random
import warnings

import pytest

from prefopt.data import TokenizedExample, example_key, split_examples
from prefopt.types import RankedExample

EXAMPLES = [RankedExample(f"prompt {i}", ("a", "b"), (0, 1)) for i in range(50)]


def test_split_is_deterministic_and_independent_of_order():
    train, held_out = split_examples(EXAMPLES, 0.2, seed=3)
    shuffled = random.Random(0).sample(EXAMPLES, len(EXAMPLES))
    train_2, held_out_2 = split_examples(shuffled, 0.2, seed=3)
    assert len(held_out) == 10 and len(train) == 40
    assert set(map(example_key, held_out)) == set(map(example_key, held_out_2))
    assert train == [e for e in EXAMPLES if e not in held_out]  # input order kept


def test_the_seed_changes_the_split():
    assert split_examples(EXAMPLES, 0.2, seed=0)[1] != split_examples(EXAMPLES, 0.2, seed=1)[1]


def test_copies_of_an_example_never_straddle_the_split():
    examples = EXAMPLES[:10] * 3
    for seed in range(5):
        train, held_out = split_examples(examples, 0.3, seed=seed)
        assert not set(map(example_key, train)) & set(map(example_key, held_out))
        assert len(held_out) == 3 * 3


def test_each_side_gets_an_example_when_possible():
    assert [len(part) for part in split_examples(EXAMPLES[:2], 0.01)] == [1, 1]
    assert [len(part) for part in split_examples(EXAMPLES[:2], 0.99)] == [1, 1]
    assert [len(part) for part in split_examples(EXAMPLES, 0.0)] == [50, 0]


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.9])
def test_a_single_distinct_example_stays_for_training_with_a_warning(fraction):
    with pytest.warns(UserWarning, match=f"eval_fraction={fraction} holds out no example: the data has 1 distinct"):
        train, held_out = split_examples(EXAMPLES[:1] * 4, fraction)
    assert (train, held_out) == (EXAMPLES[:1] * 4, [])


def test_no_held_out_part_asked_for_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert split_examples(EXAMPLES[:1], 0.0) == (EXAMPLES[:1], [])


def test_tokenized_examples_split_by_their_key():
    tokenized = [TokenizedExample(example_key(e), (1,), ((2,), (3,)), (0, 1)) for e in EXAMPLES]
    held_out_keys = {t.key for t in split_examples(tokenized, 0.2, seed=3)[1]}
    assert held_out_keys == set(map(example_key, split_examples(EXAMPLES, 0.2, seed=3)[1]))


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_fraction_must_be_below_one(fraction):
    with pytest.raises(ValueError):
        split_examples(EXAMPLES, fraction)
