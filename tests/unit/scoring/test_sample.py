"""``prefopt sample``: K completions per prompt from batched, KV-cached generation, seeded, written atomically."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefopt.cli import main
from prefopt.sampling import GenerationSettings, sample_completions
from prefopt.sampling.generate import prompt_ids

PROMPTS = ["the film", "a long prompt that is longer than the others", "ok"]


def write_prompts(path, prompts=PROMPTS):
    path.write_text("".join(json.dumps({"prompt": p, "id": i}) + "\n" for i, p in enumerate(prompts)))
    return path


def greedy(model, ids: list[int], steps: int, eos: int) -> list[int]:
    """Greedy decoding by full forward passes, one prompt at a time, no cache, no padding."""
    out = []
    for _ in range(steps):
        logits = model(torch.tensor([ids + out])).logits[0, -1]
        out.append(int(logits.argmax()))
        if out[-1] == eos:
            break
    return out


def test_batched_left_padded_cached_generation_matches_greedy_decoding_one_prompt_at_a_time(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    # a near-zero temperature makes sampling the argmax: the batch (prompts of different lengths, left-padded)
    # must decode as each prompt alone does
    settings = GenerationSettings(k=2, max_new_tokens=6, temperature=1e-5, batch_size=6, seed=3)
    samples = sample_completions(model, tokenizer, PROMPTS, settings)
    for prompt, result in zip(PROMPTS, samples, strict=True):
        ids = prompt_ids(prompt, tokenizer)
        assert list(result.prompt_ids) == ids
        expected = tuple(greedy(model, ids, 6, tokenizer.eos_token_id))
        assert result.completion_ids == (expected, expected)
        assert result.completions[0] == tokenizer.decode(expected, skip_special_tokens=True)


def test_sample_command_writes_k_completions_per_prompt_and_is_seeded(tiny_model_dir, tmp_path, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    args = ["sample", str(prompts), "--model", str(tiny_model_dir), "-k", "3", "--max-new-tokens", "5"]
    args += ["--batch-size", "4", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a.jsonl"), "--seed", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "b.jsonl"), "--seed", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "c.jsonl"), "--seed", "2"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [row["prompt"] for row in rows] == PROMPTS
    assert all(len(row["responses"]) == len(row["finished"]) == 3 for row in rows)
    # the byte tokenizer: 5 new tokens are at most 5 bytes, which decode to at most 5 characters
    assert all(len(r) <= 5 for row in rows for r in row["responses"])
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert (tmp_path / "a.jsonl").read_text() != (tmp_path / "c.jsonl").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "c.jsonl", "prompts.jsonl"]
    assert torch.is_grad_enabled()  # the command leaves the process as it found it


def sample_rows(model_dir, prompts, out, *options: str) -> list[dict]:
    args = ["sample", str(prompts), "--model", str(model_dir), "-k", "3", "--no-progress", "--out", str(out)]
    assert main([*args, *options]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_finished_is_false_for_completions_cut_at_max_new_tokens_and_true_for_those_that_stopped(
    tiny_model_generating, tmp_path, capsys
):
    prompts, eos = write_prompts(tmp_path / "prompts.jsonl"), 2  # the byte tokenizer's EOS
    never_stops = tiny_model_generating(suppress_tokens=[eos])
    rows = sample_rows(never_stops, prompts, tmp_path / "cut.jsonl", "--max-new-tokens", "4")
    assert [row["finished"] for row in rows] == [[False] * 3] * len(PROMPTS)
    assert "warning: 9 of 9 completions were cut at --max-new-tokens 4" in capsys.readouterr().err
    # EOS forced as the last token at the latest: every completion stops, at its 4th token or before
    always_stops = tiny_model_generating(forced_eos_token_id=eos)
    rows = sample_rows(always_stops, prompts, tmp_path / "stopped.jsonl", "--max-new-tokens", "4")
    assert [row["finished"] for row in rows] == [[True] * 3] * len(PROMPTS)
    assert "warning" not in capsys.readouterr().err


def test_empty_completions_are_counted_in_a_warning(tiny_model_generating, tmp_path, capsys):
    # EOS forced as the first token: every completion is empty (and finished)
    model = tiny_model_generating(forced_eos_token_id=2)
    rows = sample_rows(model, write_prompts(tmp_path / "prompts.jsonl"), tmp_path / "s.jsonl", "--max-new-tokens", "1")
    assert {r for row in rows for r in row["responses"]} == {""}
    err = capsys.readouterr().err
    assert "prefopt sample: warning: 9 of 9 completions are empty" in err and "cut" not in err


def test_a_bad_prompt_row_is_one_message_naming_file_row_and_field(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "fine"}\n\n{"text": "no prompt"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["sample", str(prompts), "--model", str(tiny_model_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{prompts}, row 3, field 'prompt'" in err and "missing" in err and "Traceback" not in err
    assert not out.exists()


def test_a_missing_model_is_one_message(tmp_path, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    assert main(["sample", str(prompts), "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
