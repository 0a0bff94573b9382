"""Record shapes: detection, normalisation to RankedExample, and the errors for unusable rows."""

from __future__ import annotations

import json

import pytest

from prefopt.data import load_preferences
from prefopt.data.errors import PreferenceDataError
from prefopt.data.records import detect_format, normalise_record
from prefopt.types import RankedExample

USER = {"role": "user", "content": "Hi?"}


def normalise(row: dict) -> RankedExample:
    return normalise_record(row, detect_format(row))


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        ({"prompt": "p", "chosen": "a", "rejected": "b"}, "pairwise"),
        ({"chosen": "a", "rejected": "b"}, "hh"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1]}, "ranked"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [0, 1]}, "ranked"),
        ({"prompt": "p", "responses": ["a", "b"], "scores": [1, 0]}, "scored"),
        # file readers give every row every column; null columns (here of other rows' shapes) are ignored
        ({"prompt": "p", "responses": ["a", "b"], "ranking": None, "scores": [1, 0], "chosen": None}, "scored"),
        ({"prompt": None, "chosen": "a", "rejected": "b", "responses": None}, "hh"),
        # a pairwise row missing its rejected response is still pairwise (so the error names the missing field)
        ({"prompt": "p", "chosen": "a"}, "pairwise"),
    ],
)
def test_detect_format_from_keys(row, shape):
    assert detect_format(row) == shape


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"question": "p", "answer": "a"}, "unknown_format"),
        ({"prompt": "p", "chosen": None, "rejected": None}, "unknown_format"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1], "scores": [1, 0]}, "unknown_format"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": None}, "missing_field"),
    ],
)
def test_detect_format_rejects_unknown_ambiguous_or_unordered_rows(row, reason):
    with pytest.raises(PreferenceDataError) as caught:
        detect_format(row)
    assert caught.value.reason == reason


def test_pairwise_puts_chosen_first():
    example = normalise({"prompt": "p", "chosen": "good", "rejected": "bad", "id": 7})
    assert example == RankedExample("p", ("good", "bad"), (0, 1))


def test_ranking_lists_indices_best_first():
    example = normalise({"prompt": "p", "responses": ["a", "b", "c"], "ranking": [2, 0, 1]})
    assert example == RankedExample("p", ("c", "a", "b"), (0, 1, 2))


@pytest.mark.parametrize("ranks", [[1, 0, 1, 2], [2, 1, 2, 3], [10, -5, 10, 11]])
def test_ranks_are_dense_and_ties_keep_input_order(ranks):
    # only the order of the ranks matters: 0-based, 1-based or any integers give the same example
    example = normalise({"prompt": "p", "responses": ["a", "b", "c", "d"], "ranks": ranks})
    assert example == RankedExample("p", ("b", "a", "c", "d"), (0, 1, 1, 2))


def test_scores_higher_is_better_equal_scores_tie():
    example = normalise({"prompt": "p", "responses": ["a", "b", "c", "d"], "scores": [0.5, 2.0, 0.5, -1]})
    assert example == RankedExample("p", ("b", "a", "c", "d"), (0, 1, 1, 2))


def test_finished_is_sorted_with_the_responses_and_absent_without_it():
    row = {"prompt": "p", "responses": ["cut", "ended", "tie"], "scores": [0.1, 0.9, 0.1]}
    assert normalise({**row, "finished": [False, True, True]}).finished == (True, False, True)
    ranked = {"prompt": "p", "responses": ["cut", "ended"], "ranking": [1, 0], "finished": [False, True]}
    assert normalise(ranked) == RankedExample("p", ("ended", "cut"), (0, 1), finished=(True, False))
    assert normalise(row).finished is None
    assert normalise({**row, "finished": None}).finished is None


def test_a_bad_finished_in_a_file_names_the_file_row_and_field(tmp_path):
    path = tmp_path / "scored.jsonl"
    good = {"prompt": "p", "responses": ["a", "b"], "scores": [1, 0], "finished": [True, False]}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "finished": [True, "no"]}) + "\n")
    with pytest.raises(PreferenceDataError, match=r"scored\.jsonl, row 2, field 'finished\[1\]': must be true or"):
        load_preferences(path)


def test_the_same_text_cut_and_finished_are_two_responses():
    # a cut copy of a finished response is another token sequence (no EOS), so it can carry a preference
    example = normalise({"prompt": "p", "responses": ["same", "same"], "scores": [1, 0], "finished": [True, False]})
    assert example.responses == ("same", "same") and example.finished == (True, False)
    with pytest.raises(PreferenceDataError, match="identical"):
        normalise({"prompt": "p", "responses": ["same", "same"], "scores": [1, 0], "finished": [False, False]})


def test_chat_messages_become_tuples_of_role_and_content():
    row = {
        "prompt": [{"role": "system", "content": "Be brief.", "name": None}, USER],
        "chosen": "Hello.",
        "rejected": [{"role": "assistant", "content": "Go away."}],
    }
    example = normalise(row)
    assert example.prompt == ({"role": "system", "content": "Be brief."}, USER)
    assert example.responses == (
        ({"role": "assistant", "content": "Hello."},),
        ({"role": "assistant", "content": "Go away."},),
    )


@pytest.mark.parametrize(
    ("row", "reason", "field"),
    [
        ({"prompt": "p", "chosen": "a", "rejected": None}, "missing_field", "rejected"),
        ({"prompt": "  ", "chosen": "a", "rejected": "b"}, "empty_text", "prompt"),
        ({"prompt": "p", "chosen": "", "rejected": "b"}, "empty_text", "chosen"),
        ({"prompt": 3, "chosen": "a", "rejected": "b"}, "wrong_type", "prompt"),
        ({"prompt": "p", "chosen": ["a"], "rejected": "b"}, "wrong_type", "chosen"),
        ({"prompt": "p", "chosen": "same", "rejected": "same"}, "identical_responses", "rejected"),
        ({"prompt": [USER], "chosen": "a", "rejected": [{"role": "assistant"}]}, "missing_field", "rejected[0]"),
        ({"prompt": [USER, "hi"], "chosen": "a", "rejected": "b"}, "wrong_type", "prompt[1]"),
        ({"prompt": [], "chosen": "a", "rejected": "b"}, "empty_text", "prompt"),
        ({"prompt": "p", "responses": ["a"], "ranks": [0]}, "too_few_responses", "responses"),
        ({"prompt": "p", "responses": "ab", "ranks": [0, 1]}, "wrong_type", "responses"),
        ({"prompt": "p", "responses": ["a", "b", "a"], "ranks": [0, 1, 2]}, "identical_responses", "responses[2]"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}, "bad_ranking", "ranking"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [1, 2]}, "bad_ranking", "ranking"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1, 2]}, "length_mismatch", "ranking"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, "1"]}, "wrong_type", "ranking[1]"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [True, False]}, "wrong_type", "ranks[0]"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [1, 1]}, "all_tied", "ranks"),
        ({"prompt": "p", "responses": ["a", "b"], "scores": [2.5, 2.5]}, "all_tied", "scores"),
        ({"prompt": "p", "responses": ["a", "b"], "scores": [1.0, float("nan")]}, "wrong_type", "scores[1]"),
        ({"prompt": "p", "responses": ["a", "b"], "scores": [1.0]}, "length_mismatch", "scores"),
        ({"prompt": "p", "responses": ["a", "b"], "scores": [1, 0], "finished": [True]}, "length_mismatch", "finished"),
        (
            {"prompt": "p", "responses": ["a", "b"], "scores": [1, 0], "finished": [True, 1]},
            "wrong_type",
            "finished[1]",
        ),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [0, 1], "finished": "yes"}, "wrong_type", "finished"),
        (
            {"prompt": [USER], "responses": ["a", [USER, {"role": "assistant", "content": "b"}]], "ranks": [0, 1]}
            | {"finished": [True, False]},
            "wrong_type",
            "responses[1]",
        ),
    ],
)
def test_unusable_rows_name_reason_and_field(row, reason, field):
    with pytest.raises(PreferenceDataError) as caught:
        normalise(row)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_explicit_ranked_shape_needs_ranking_or_ranks():
    with pytest.raises(PreferenceDataError) as caught:
        normalise_record({"prompt": "p", "responses": ["a", "b"], "scores": [1, 0]}, "ranked")
    assert (caught.value.reason, caught.value.field) == ("missing_field", "ranking")


def test_explicit_ranked_shape_rejects_both_ranking_and_ranks():
    row = {"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1], "ranks": [1, 0]}
    with pytest.raises(PreferenceDataError) as caught:
        normalise_record(row, "ranked")
    assert caught.value.reason == "unknown_format"
