"""The truncation policy on plain id lists (BOS = 1)."""

from __future__ import annotations

from prefopt.data.truncate import truncate

PROMPT = [1, 10, 11, 12, 13, 14, 15]  # BOS and six prompt tokens


def cut(prompt, responses, keep="keep_end", max_length=8, max_prompt_length=4):
    return truncate(
        prompt, responses, max_length=max_length, max_prompt_length=max_prompt_length, keep=keep, prefix=[1]
    )


def test_an_example_that_fits_is_left_whole_even_with_a_long_prompt():
    assert cut(PROMPT, [[20], [30]]) == (PROMPT, [[20], [30]])


def test_keep_end_keeps_bos_and_the_most_recent_prompt_tokens_then_cuts_response_ends():
    assert cut(PROMPT, [[20, 21, 22, 23, 24, 25], [30]]) == ([1, 13, 14, 15], [[20, 21, 22, 23], [30]])


def test_keep_start_keeps_the_start_of_the_prompt():
    assert cut(PROMPT, [[20, 21], [30, 31]], keep="keep_start") == ([1, 10, 11, 12], [[20, 21], [30, 31]])


def test_a_prompt_within_max_prompt_length_is_kept_and_responses_take_the_cut():
    assert cut([1, 10, 11], [list(range(20, 30)), [30]]) == ([1, 10, 11], [[20, 21, 22, 23, 24], [30]])


def test_a_prompt_without_the_prefix_is_cut_as_it_is():
    assert cut([10, 11, 12, 13, 14, 15, 16], [[20, 21], [30]]) == ([13, 14, 15, 16], [[20, 21], [30]])
