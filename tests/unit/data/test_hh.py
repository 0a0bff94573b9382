"""HH-RLHF dialogues: the prompt is the shared dialogue up to the last assistant turn."""

from __future__ import annotations

import pytest

from prefopt.data.errors import PreferenceDataError
from prefopt.data.hh import split_dialogues

PROMPT = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell me a joke.\n\nAssistant:"


def test_prompt_is_the_dialogue_up_to_the_last_assistant_turn():
    prompt, chosen, rejected = split_dialogues(PROMPT + " Why did the chicken...", PROMPT + " No.")
    assert (prompt, chosen, rejected) == (PROMPT, " Why did the chicken...", " No.")


def test_dialogues_that_differ_before_the_last_turn_share_no_prompt():
    other = PROMPT.replace("a joke", "a story")
    with pytest.raises(PreferenceDataError) as caught:
        split_dialogues(PROMPT + " A", other + " B")
    assert (caught.value.reason, caught.value.field) == ("no_shared_prompt", "rejected")


def test_a_dialogue_without_an_assistant_turn_is_an_error():
    with pytest.raises(PreferenceDataError) as caught:
        split_dialogues("\n\nHuman: Hi", PROMPT + " B")
    assert (caught.value.reason, caught.value.field) == ("no_shared_prompt", "chosen")


def test_message_dialogues_split_before_the_final_assistant_message():
    shared = [{"role": "user", "content": "Hi"}]
    chosen = [*shared, {"role": "assistant", "content": "Hello!"}]
    rejected = [*shared, {"role": "assistant", "content": "What?"}]
    assert split_dialogues(chosen, rejected) == (shared, chosen[1:], rejected[1:])


@pytest.mark.parametrize(
    "rejected",
    [
        [{"role": "user", "content": "Hey"}, {"role": "assistant", "content": "What?"}],
        [{"role": "user", "content": "Hi"}],
    ],
)
def test_message_dialogues_must_share_the_prompt_and_end_with_the_assistant(rejected):
    chosen = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    with pytest.raises(PreferenceDataError) as caught:
        split_dialogues(chosen, rejected)
    assert (caught.value.reason, caught.value.field) == ("no_shared_prompt", "rejected")


def test_text_and_message_dialogues_do_not_mix():
    with pytest.raises(PreferenceDataError) as caught:
        split_dialogues(PROMPT + " A", [{"role": "assistant", "content": "B"}])
    assert caught.value.reason == "wrong_type"
