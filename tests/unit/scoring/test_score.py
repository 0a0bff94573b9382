"""``prefopt score`` and the built-in scorers: scored records the engine reads as K-way rankings, ties kept."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from prefopt.cli import main
from prefopt.data import load_preferences
from prefopt.model.load import byte_tokenizer
from prefopt.scoring import build_scorer, registry

SAMPLES = [
    {"prompt": "This movie", "responses": [" was wonderful", " was awful", " was a film", " was a film"], "id": 7},
    {"prompt": "The plot", "responses": [" is dull and bad", " is great fun"]},
]


def write_samples(path, rows=SAMPLES):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_vader_scores_the_prompt_with_its_completion_unless_told_otherwise():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    prompts, completions = ["I hated it, but", "Wonderful."], [" the end was great", " The end."]
    assert build_scorer("vader")(prompts, completions) == [
        analyzer.polarity_scores(p + c)["compound"] for p, c in zip(prompts, completions, strict=True)
    ]
    assert build_scorer("vader", include_prompt=False)(prompts, completions) == [
        analyzer.polarity_scores(c)["compound"] for c in completions
    ]


def test_score_command_writes_scored_records_that_load_as_rankings_with_ties(tmp_path, capsys):
    samples, out = write_samples(tmp_path / "samples.jsonl"), tmp_path / "scored.jsonl"
    assert main(["score", str(samples), "--scorer", "vader", "--out", str(out), "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    vader = build_scorer("vader")
    for row, sample in zip(rows, SAMPLES, strict=True):
        assert row == {**sample, "scores": vader([sample["prompt"]] * len(sample["responses"]), sample["responses"])}
    assert rows[0]["scores"][0] > 0 > rows[0]["scores"][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl", "scored.jsonl"]
    # the two identical neutral responses tie: the loader counts the row's duplicate, the ranking keeps its order
    examples, report = load_preferences(out, format="scored", on_error="skip")
    assert [e.responses[0] for e in examples] == [" is great fun"]
    assert report.num_skipped == 1


def test_equal_scores_stay_ties_and_prompts_with_every_score_tied_are_counted_in_a_warning(install, tmp_path, capsys):
    install("fakeconstant", {"half": "def make():\n    return lambda prompts, completions: [0.5] * len(completions)\n"})
    rows = [{"prompt": "p", "responses": ["a", "b", "c"]}, {"prompt": "q", "responses": ["a", "b"]}]
    samples = write_samples(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "scored.jsonl"
    assert main(["score", str(samples), "--scorer", "half", "--out", str(out), "--no-progress"]) == 0
    assert json.loads(out.read_text().splitlines()[0])["scores"] == [0.5, 0.5, 0.5]
    assert "prefopt score: warning: 2 of 2 prompts have every score tied" in capsys.readouterr().err


def test_sampled_records_keep_finished_and_train_with_eos_only_where_sampling_stopped(tmp_path):
    rows = [{"prompt": "This movie", "responses": [" was great", " was"], "finished": [False, True]}]
    samples, out = write_samples(tmp_path / "samples.jsonl", rows), tmp_path / "scored.jsonl"
    assert main(["score", str(samples), "--scorer", "vader", "--out", str(out), "--no-progress"]) == 0
    [scored] = [json.loads(line) for line in out.read_text().splitlines()]
    assert scored["finished"] == [False, True] and scored["scores"][0] > scored["scores"][1]
    [example], _ = load_preferences(out)
    assert example.responses == (" was great", " was") and example.finished == (False, True)


def test_empty_responses_are_counted_in_a_warning(tmp_path, capsys):
    rows = [{"prompt": "p", "responses": ["", " good", " "]}, {"prompt": "q", "responses": ["", "bad"]}]
    samples = write_samples(tmp_path / "samples.jsonl", rows)
    assert main(["score", str(samples), "--scorer", "vader", "--out", str(tmp_path / "o.jsonl"), "--no-progress"]) == 0
    assert "prefopt score: warning: 3 of 5 responses are empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('{"prompt": "p"}', "responses", "missing"),
        ('{"prompt": "p", "responses": "abc"}', "responses", "non-empty list"),
        ('{"prompt": "p", "responses": ["a", 3]}', "responses[1]", "must be a text"),
        ('{"prompt": 5, "responses": ["a"]}', "prompt", "a text or a list"),
        ('{"prompt": "p", "responses": ["a", "b"], "finished": [true]}', "finished", "has 1 entries for 2"),
        ('{"prompt": "p", "responses": ["a", "b"], "finished": [true, 0]}', "finished[1]", "true or false"),
    ],
)
def test_a_bad_samples_row_is_one_message_naming_file_row_and_field(tmp_path, capsys, line, field, words):
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"prompt": "p", "responses": ["a", "b"]}\n' + line + "\n")
    out = tmp_path / "scored.jsonl"
    assert main(["score", str(samples), "--scorer", "vader", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{samples}, row 2, field '{field}'" in err and words in err and "Traceback" not in err
    assert not out.exists()


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A tiny random sequence classifier with labels NEGATIVE / POSITIVE and a byte tokenizer."""
    directory = tmp_path_factory.mktemp("classifier")
    tokenizer = byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_hf_classifier_gives_the_label_probability_of_each_text_as_scored_alone(classifier_dir):
    model = LlamaForSequenceClassification.from_pretrained(classifier_dir).eval()
    tokenizer = byte_tokenizer()
    prompts, completions = ["a", "bb", "a much longer prompt"], ["x", " yes indeed", ""]
    for label, index in (("POSITIVE", 1), ("NEGATIVE", 0), (None, 1)):
        options = {"path": str(classifier_dir), "batch_size": 2} | ({"label": label} if label else {})
        scores = build_scorer("hf-classifier", **options)(prompts, completions)
        for prompt, completion, score in zip(prompts, completions, scores, strict=True):
            ids = torch.tensor([tokenizer(prompt + completion)["input_ids"]])  # unpadded, alone
            with torch.no_grad():
                expected = model(input_ids=ids).logits.softmax(-1)[0, index].item()
            assert score == pytest.approx(expected, abs=1e-5)


def test_hf_classifier_refuses_an_unknown_label_or_a_path_without_a_model(classifier_dir, tmp_path, capsys):
    samples = write_samples(tmp_path / "samples.jsonl")
    out = str(tmp_path / "out.jsonl")
    base = ["score", str(samples), "--scorer", "hf-classifier", "--out", out]
    assert main([*base, "--option", f"path={classifier_dir}", "--option", "label=HAPPY"]) == 2
    assert "label 'HAPPY' is not one of the model's labels ['NEGATIVE', 'POSITIVE']" in capsys.readouterr().err
    assert main([*base, "--option", f"path={tmp_path}"]) == 2
    assert "expected a model directory with config.json" in capsys.readouterr().err
    assert registry.provider("hf-classifier").distribution == "prefopt"
