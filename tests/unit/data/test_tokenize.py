"""Tokenisation against the tokenizer's own tokenisation of the full text, with a real (in-memory) tokenizer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from prefopt.data import PreferenceDataError, collate, example_key, tokenize_examples
from prefopt.data.records import normalise_record
from prefopt.types import RankedExample

HH_PROMPT = "\n\nHuman: hello there, how are you today?\n\nAssistant:"
USER = ({"role": "user", "content": "What is the capital of France?"},)


def ids(tokenizer, text: str, special: bool = True) -> list[int]:
    return tokenizer(text, add_special_tokens=special)["input_ids"]


def run(examples, tokenizer, **options):
    options = {"max_length": 512, "max_prompt_length": 256, **options}
    return tokenize_examples(examples, tokenizer, **options)


def test_prompt_plus_response_ids_are_the_tokenisation_of_the_full_text(tokenizer):
    example = RankedExample(HH_PROMPT, (" I am fine, thank you!", " The lazy dog."), (0, 1))
    [item], report = run([example], tokenizer)
    assert item.prompt_ids == tuple(ids(tokenizer, HH_PROMPT))
    assert item.prompt_ids[0] == tokenizer.bos_token_id
    for response, response_ids in zip(example.responses, item.response_ids, strict=True):
        assert list(item.prompt_ids + response_ids) == ids(tokenizer, HH_PROMPT + response) + [tokenizer.eos_token_id]
    assert (item.key, item.ranks) == (example_key(example), (0, 1))
    assert (report.kept, report.boundary_mismatches, report.truncated_prompts, report.truncated_responses) == (
        1,
        0,
        0,
        0,
    )


def test_a_merge_across_the_boundary_tokenises_the_response_apart(tokenizer):
    prompt, response = "Human: hel", "lo world"
    # the premise: the full text's tokens do not start with the prompt's ("hel" + "lo" merge into "hello")
    assert ids(tokenizer, prompt + response)[: len(ids(tokenizer, prompt))] != ids(tokenizer, prompt)
    [item], report = run([RankedExample(prompt, (response, " world"), (0, 1))], tokenizer)
    assert item.prompt_ids == tuple(ids(tokenizer, prompt))
    assert list(item.response_ids[0]) == ids(tokenizer, response, special=False) + [tokenizer.eos_token_id]
    assert list(item.prompt_ids + item.response_ids[1]) == ids(tokenizer, prompt + " world") + [tokenizer.eos_token_id]
    assert report.boundary_mismatches == 1
    assert "1 responses tokenised apart" in report.summary()


def test_bos_written_in_the_text_is_not_doubled(tokenizer):
    [item], _ = run([RankedExample("<s>Human: hello", (" world", " dog"), (0, 1))], tokenizer)
    assert list(item.prompt_ids) == ids(tokenizer, "<s>Human: hello", special=False)
    assert item.prompt_ids.count(tokenizer.bos_token_id) == 1


def test_chat_examples_are_rendered_with_the_chat_template(tokenizer):
    responses = (({"role": "assistant", "content": "Paris."},), ({"role": "assistant", "content": "Lyon."},))
    [item], report = run([RankedExample(USER, responses, (0, 1))], tokenizer)
    prompt_text = tokenizer.apply_chat_template(list(USER), tokenize=False, add_generation_prompt=True)
    assert list(item.prompt_ids) == ids(tokenizer, prompt_text)
    for response, response_ids in zip(responses, item.response_ids, strict=True):
        full_text = tokenizer.apply_chat_template(list(USER + response), tokenize=False)
        # the template already ends the turn with EOS, so none is added
        assert list(item.prompt_ids + response_ids) == ids(tokenizer, full_text)
        assert response_ids[-1] == tokenizer.eos_token_id != response_ids[-2]
    assert report.boundary_mismatches == 0


def test_a_sampled_response_ends_with_eos_only_if_sampling_stopped_there(tokenizer):
    row = {"prompt": HH_PROMPT, "responses": [" I am fine", " The lazy"], "scores": [1, 0], "finished": [True, False]}
    example = normalise_record(row, "scored")
    [item], _ = run([example], tokenizer)
    stopped, cut = (ids(tokenizer, HH_PROMPT + r) for r in row["responses"])
    assert list(item.prompt_ids + item.response_ids[0]) == stopped + [tokenizer.eos_token_id]
    assert list(item.prompt_ids + item.response_ids[1]) == cut
    # the same record without finished is human data: both responses end
    [human], _ = run([normalise_record({**row, "finished": None}, "scored")], tokenizer)
    assert list(human.prompt_ids + human.response_ids[1]) == cut + [tokenizer.eos_token_id]


def test_a_cut_chat_response_is_the_generation_prompt_and_its_text_without_the_end_of_turn(tokenizer):
    row = {"prompt": list(USER), "responses": ["Paris is", "Lyon."], "ranks": [0, 1], "finished": [False, True]}
    [item], _ = run([normalise_record(row, "ranked")], tokenizer)
    prompt_text = tokenizer.apply_chat_template(list(USER), tokenize=False, add_generation_prompt=True)
    assert list(item.prompt_ids + item.response_ids[0]) == ids(tokenizer, prompt_text + "Paris is")
    assert item.response_ids[1][-1] == tokenizer.eos_token_id


def test_the_key_changes_with_finished():
    # (an example without finished keys by the formula of test_keys, as it did before finished existed)
    human = RankedExample("p", ("a", "b"), (0, 1))
    keys = {example_key(replace(human, finished=flags)) for flags in [(True, True), (True, False), (False, True)]}
    assert len(keys | {example_key(human)}) == 4


def test_a_chat_template_that_writes_bos_gets_no_second_bos(make_tokenizer):
    tokenizer = make_tokenizer(chat_template="<s>" + make_tokenizer().chat_template)
    responses = (({"role": "assistant", "content": "Paris."},), ({"role": "assistant", "content": "Lyon."},))
    [item], _ = run([RankedExample(USER, responses, (0, 1))], tokenizer)
    prompt_text = tokenizer.apply_chat_template(list(USER), tokenize=False, add_generation_prompt=True)
    assert list(item.prompt_ids) == ids(tokenizer, prompt_text, special=False)
    assert item.prompt_ids.count(tokenizer.bos_token_id) == 1


def test_chat_examples_need_a_chat_template(make_tokenizer):
    example = RankedExample(USER, (({"role": "assistant", "content": "Paris."},),) * 2, (0, 1), source="c.jsonl, row 4")
    with pytest.raises(PreferenceDataError) as caught:
        run([example], make_tokenizer(chat_template=None))
    assert (caught.value.reason, caught.value.field) == ("chat_template", "prompt")
    assert str(caught.value).startswith("c.jsonl, row 4, field 'prompt': ")


def test_a_chat_template_that_changes_the_prompt_when_a_response_follows_is_an_error(make_tokenizer):
    template = "{% for m in messages %}{{ m['content'] }}|{% endfor %}{% if add_generation_prompt %}>>{% endif %}"
    responses = (({"role": "assistant", "content": "Paris."},), ({"role": "assistant", "content": "Lyon."},))
    with pytest.raises(PreferenceDataError) as caught:
        run([RankedExample(USER, responses, (0, 1))], make_tokenizer(chat_template=template))
    assert (caught.value.reason, caught.value.field) == ("chat_template", "responses[0]")


def test_a_tokenizer_without_eos_is_an_error(make_tokenizer):
    with pytest.raises(ValueError, match="EOS"):
        run([RankedExample("p", ("a", "b"), (0, 1))], make_tokenizer(eos=False))


LONG_PROMPT = "Human: " + " ".join(f"word{i}" for i in range(40))
LONG_RESPONSE = " The quick brown fox jumps over the lazy dog." * 3


def test_truncation_keeps_bos_and_the_prompt_end_then_cuts_response_ends(tokenizer):
    example = RankedExample(LONG_PROMPT, (LONG_RESPONSE, " Paris."), (0, 1))
    [item], report = run([example], tokenizer, max_length=40, max_prompt_length=16)
    prompt = ids(tokenizer, LONG_PROMPT)
    expected_prompt = [prompt[0], *prompt[-15:]]
    assert list(item.prompt_ids) == expected_prompt
    full = ids(tokenizer, LONG_PROMPT + LONG_RESPONSE)
    assert list(item.response_ids[0]) == full[len(prompt) :][: 40 - 16]  # cut: no EOS
    assert list(item.response_ids[1]) == ids(tokenizer, " Paris.", special=False) + [tokenizer.eos_token_id]
    assert (report.truncated_prompts, report.truncated_responses) == (1, 1)


def test_keep_start_keeps_the_prompt_start(tokenizer):
    example = RankedExample(LONG_PROMPT, (LONG_RESPONSE, " Paris."), (0, 1))
    [item], _ = run([example], tokenizer, max_length=40, max_prompt_length=16, truncation="keep_start")
    assert list(item.prompt_ids) == ids(tokenizer, LONG_PROMPT)[:16]


def test_drop_mode_drops_and_counts_over_long_examples(tokenizer):
    short = RankedExample("Human: hello", (" world", " dog"), (0, 1))
    long = RankedExample(LONG_PROMPT, (LONG_RESPONSE, " Paris."), (0, 1))
    items, report = run([long, short], tokenizer, max_length=40, max_prompt_length=16, on_overflow="drop")
    assert [item.key for item in items] == [example_key(short)]
    assert (report.examples, report.kept, dict(report.dropped)) == (2, 1, {"too_long": 1})
    assert "dropped 1 examples (too_long 1)" in report.summary()


def test_responses_left_identical_by_truncation_are_dropped_and_counted(tokenizer):
    example = RankedExample("Human: hello", (LONG_RESPONSE + " Paris.", LONG_RESPONSE + " Lyon."), (0, 1))
    items, report = run([example], tokenizer, max_length=20, max_prompt_length=8)
    assert items == [] and dict(report.dropped) == {"identical_tokens": 1}


@pytest.mark.parametrize(
    "options",
    [
        {"max_length": 10, "max_prompt_length": 10},
        {"max_length": 10, "max_prompt_length": 1},  # no room after BOS
        {"truncation": "middle"},
        {"on_overflow": "ignore"},
    ],
)
def test_bad_options_are_rejected(tokenizer, options):
    with pytest.raises(ValueError):
        run([RankedExample("p", ("a", "b"), (0, 1))], tokenizer, **options)


def test_collated_rows_are_the_full_tokenisation(tokenizer):
    examples = [
        RankedExample(HH_PROMPT, (" I am fine.", " Go away, the lazy dog.", " Hm."), (0, 1, 1)),
        RankedExample("Human: What is the capital of France?", (" Paris.", " Lyon."), (0, 1)),
    ]
    items, _ = run(examples, tokenizer)
    batch = collate(items, pad_token_id=tokenizer.pad_token_id)
    for b, example in enumerate(examples):
        prompt = batch.prompt_ids[b][batch.prompt_mask[b]].tolist()
        for k, response in enumerate(example.responses):
            tokens = batch.response_ids[b, k][batch.response_mask[b, k]].tolist()
            assert prompt + tokens == ids(tokenizer, example.prompt + response) + [tokenizer.eos_token_id]
    assert batch.ranks.tolist() == [[0, 1, 1], [0, 1, 3]]


def test_tied_responses_left_identical_are_kept_once_and_the_other_preferences_stay(tokenizer):
    tied = (LONG_RESPONSE + " Paris.", LONG_RESPONSE + " Lyon.")
    example = RankedExample("Human: hello", (" yes", *tied), (0, 1, 1))
    items, report = run([example], tokenizer, max_length=20, max_prompt_length=8)
    (item,) = items
    assert item.ranks == (0, 1) and len(item.response_ids) == 2
    assert report.merged_duplicates == 1 and not report.dropped
    assert "merged 1 tied responses" in report.summary()


def test_identical_responses_ranked_differently_drop_the_example(tokenizer):
    example = RankedExample("Human: hello", (" yes", LONG_RESPONSE + " Paris.", LONG_RESPONSE + " Lyon."), (0, 1, 2))
    items, report = run([example], tokenizer, max_length=20, max_prompt_length=8)
    assert items == [] and dict(report.dropped) == {"identical_tokens": 1}


def test_a_part_that_loses_every_example_is_an_error_or_a_warning(tokenizer):
    long = RankedExample(LONG_PROMPT, (LONG_RESPONSE, " Paris."), (0, 1))
    _, report = run([long, long], tokenizer, max_length=40, max_prompt_length=16, on_overflow="drop")
    with pytest.raises(PreferenceDataError) as caught:
        report.check_kept("train", required=True)
    assert caught.value.reason == "no_examples"
    assert str(caught.value) == "tokenising dropped all 2 train examples (too_long 2); nothing is left to use"
    with pytest.warns(UserWarning, match=r"^tokenising dropped all 2 eval examples \(too_long 2\); metrics on"):
        report.check_kept("eval", required=False)


def test_a_part_that_keeps_an_example_or_had_none_passes_the_check(tokenizer, recwarn):
    short = RankedExample("Human: hello", (" world", " dog"), (0, 1))
    for examples in ([short], []):
        report = run(examples, tokenizer)[1]
        report.check_kept("train", required=True)
        report.check_kept("eval", required=False)
    assert not recwarn.list


class RecordingTokenizer:
    """A tokenizer that notes the longest text it was given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.longest = 0

    def __call__(self, text, **options):
        self.longest = max(self.longest, *map(len, [text] if isinstance(text, str) else text))
        return self.inner(text, **options)

    def __getattr__(self, name):
        return getattr(self.inner, name)


WORDS = " ".join(f"word{i}" for i in range(20_000))  # about 188 000 characters, about 60 000 tokens


def test_a_huge_text_is_cut_before_tokenising_and_counted(tokenizer):
    recording = RecordingTokenizer(tokenizer)
    huge = RankedExample("Human: " + "hello " * 1_000_000, (" Paris." * 1_000_000, " The lazy dog."), (0, 1))
    [item], report = run([huge], recording, max_length=64, max_prompt_length=32)
    assert recording.longest < 100_000  # of texts of 6 and 7 million characters
    assert len(item.prompt_ids) == 32 and len(item.response_ids[0]) == 64 - 32
    assert report.cut_before_tokenizing == 1 and (report.truncated_prompts, report.truncated_responses) == (1, 1)
    assert "cut the texts of 1 examples before tokenising" in report.summary()


@pytest.mark.parametrize("truncation", ["keep_end", "keep_start"])
def test_cutting_before_tokenising_gives_the_ids_truncating_the_whole_text_keeps(tokenizer, truncation):
    recording = RecordingTokenizer(tokenizer)
    example = RankedExample("Human: " + WORDS, (" " + WORDS, " Paris."), (0, 1))
    [item], report = run([example], recording, max_length=64, max_prompt_length=32, truncation=truncation)
    assert recording.longest < len(WORDS) and report.cut_before_tokenizing == 1
    prompt = ids(tokenizer, example.prompt)  # the whole texts, tokenised here, truncated by hand
    kept_prompt = [prompt[0], *prompt[-31:]] if truncation == "keep_end" else prompt[:32]
    full = ids(tokenizer, example.prompt + example.responses[0])
    assert list(item.prompt_ids) == kept_prompt
    assert list(item.response_ids[0]) == full[len(prompt) :][:32]
    assert list(item.response_ids[1]) == ids(tokenizer, " Paris.", special=False) + [tokenizer.eos_token_id]


def test_a_long_text_of_an_example_that_fits_is_not_cut():
    """A word-level tokenizer maps a long unknown word to one token: the text is long, the example fits."""
    vocab = {"<unk>": 0, "</s>": 1, "Human:": 2, "world": 3, "dog": 4}
    model = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words = PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>", eos_token="</s>")
    example = RankedExample("Human: " + "x" * 5_000, (" world", " dog"), (0, 1))
    [item], report = run([example], words, max_length=64, max_prompt_length=32)
    assert report.cut_before_tokenizing == 0 and report.truncated_prompts == 0
    assert list(item.prompt_ids) == [2, 0]
