"""End-to-end training through the engine and the command line, on tiny real models."""

import gzip
import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefopt.cli import main
from prefopt.engine import loop
from prefopt.losses import list_losses
from prefopt.model.load import byte_tokenizer
from prefopt.reference import cache_info
from tests.conftest import make_tiny_llama
from tests.integration.runs import final_weights, tiny_overrides, train_losses, train_tiny

ALL_LOSSES = sorted(info.name for info in list_losses())


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_every_registered_loss_trains_on_ranked_data(tmp_path, ranked_file, name):
    result = train_tiny(tmp_path, name, f"loss.name={name}", f"data.path={ranked_file}", "optim.max_steps=2")
    losses = train_losses(result)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert "kendall_tau" in result.final_metrics  # K = 3 data gets the ranking metric
    initial = AutoModelForCausalLM.from_pretrained(result.run_dir / "final")  # loads with plain transformers
    assert initial.config.vocab_size == len(AutoTokenizer.from_pretrained(result.run_dir / "final"))
    assert any(not torch.equal(v, torch.ones_like(v)) for k, v in final_weights(result).items() if "norm" in k)


def test_weighted_combination_of_losses_trains(tmp_path):
    result = train_tiny(tmp_path, "rpo", "loss=[{name: dpo, beta: 0.1}, {name: sft, weight: 0.5}]")
    assert all(math.isfinite(x) for x in train_losses(result))
    assert "loss/dpo" in result.history[0] and "loss/sft" in result.history[0]
    assert result.history[0]["loss"] == pytest.approx(
        result.history[0]["loss/dpo"] + 0.5 * result.history[0]["loss/sft"], rel=1e-5
    )


def _hh_file(path, rows):
    with gzip.open(path, "wt") as handle:
        for chosen, rejected in rows:
            handle.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")
    return path


def test_hh_rlhf_file_trains_a_local_model_from_the_command_line(tmp_path):
    model_dir = tmp_path / "sft-model"
    tokenizer = byte_tokenizer()
    make_tiny_llama(vocab_size=len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    prompt = "\n\nHuman: Is the sky blue?\n\nAssistant:"
    rows = [(prompt + f" Yes, it is blue {i}.", prompt + f" No {i}.") for i in range(12)] + [
        ("\n\nHuman: Hi\n\nAssistant: Hello! How can I help?", "\n\nHuman: Hi\n\nAssistant: Go away.")
    ] * 4
    data = _hh_file(tmp_path / "hh.jsonl.gz", rows)
    out = tmp_path / "run"
    code = main(
        [
            "train",
            f"data.path={data}",
            f"model.path={model_dir}",
            "optim.batch_size=4",
            "optim.micro_batch_size=2",
            "optim.max_steps=2",
            "data.eval_fraction=0.25",
            "logging.progress=false",
            f"logging.output_dir={out}",
            f"reference.cache_dir={tmp_path / 'cache'}",
        ]
    )
    assert code == 0
    report = json.loads((out / "final" / "report.json").read_text())
    assert report["steps"] == 2
    assert set(report["final_eval"]) >= {"accuracy", "margin", "loss"}
    trained = AutoModelForCausalLM.from_pretrained(out / "final")
    assert trained.config.vocab_size == len(tokenizer)

    # prefopt eval compares the trained model with the SFT model on the same file
    assert (
        main(
            [
                "eval",
                f"data.path={data}",
                f"model.path={out / 'final'}",
                f"model.reference_path={model_dir}",
                f"reference.cache_dir={tmp_path / 'cache'}",
                "--json",
            ]
        )
        == 0
    )


def _stamps(cache_dir):
    return {entry.digest: entry.path.stat().st_mtime_ns for entry in cache_info(cache_dir)}


def test_cache_is_reused_and_listed(tmp_path, capsys):
    first = train_tiny(tmp_path, "first", "loss.beta=0.1")
    stamps = _stamps(tmp_path / "cache")
    assert len(stamps) == 2  # one cache per split: training and held-out examples
    second = train_tiny(tmp_path, "second", "loss.beta=0.5")  # a beta sweep reuses both
    assert _stamps(tmp_path / "cache") == stamps
    assert first.initial_metrics["logps/reference/rank0"] == second.initial_metrics["logps/reference/rank0"]

    assert main(["cache", "info", "--dir", str(tmp_path / "cache")]) == 0
    listed = capsys.readouterr().out
    assert all(digest[:16] in listed for digest in stamps)
    assert main(["cache", "clear", "--dir", str(tmp_path / "cache")]) == 0
    assert cache_info(tmp_path / "cache") == []


def test_cache_build_command_prepares_what_training_reuses(tmp_path):
    assert main(["cache", "build", *tiny_overrides(tmp_path, "built")]) == 0
    stamps = _stamps(tmp_path / "cache")
    assert len(stamps) == 2
    train_tiny(tmp_path, "built")
    assert _stamps(tmp_path / "cache") == stamps


def test_train_command_closes_the_run_when_training_fails(tmp_path, monkeypatch):
    closed = []
    close = loop.Trainer.close

    def recording_close(trainer):
        closed.append(trainer)
        close(trainer)

    def failing_run(trainer, on_step=None):
        raise RuntimeError("stopped mid-run")

    monkeypatch.setattr(loop.Trainer, "close", recording_close)
    monkeypatch.setattr(loop.Trainer, "run", failing_run)
    with pytest.raises(RuntimeError, match="stopped mid-run"):
        main(["train", *tiny_overrides(tmp_path, "failing")])
    assert len(closed) == 1 and closed[0].model is None  # released: model, optimizer, process group


def test_reference_free_loss_builds_no_cache(tmp_path):
    train_tiny(tmp_path, "sft", "loss.name=sft")
    assert cache_info(tmp_path / "cache") == []


def test_lora_run_saves_a_merged_plain_model(tmp_path):
    result = train_tiny(tmp_path, "lora", "model.lora={r: 4, alpha: 8}")
    weights = final_weights(result)
    assert not any("lora" in name for name in weights)
    assert all(math.isfinite(x) for x in train_losses(result))


@pytest.mark.parametrize(
    "options",
    [
        ["optim.mixed_precision=bf16"],
        ["model.dtype=bfloat16"],
        ["model.gradient_checkpointing=true"],
        ["optim.optimizer=rmsprop", "optim.schedule=cosine", "optim.warmup_steps=1"],
        ["logging.tensorboard=true", "logging.eval_every=1", "logging.save_every=2"],
    ],
    ids=["autocast-bf16", "bf16-weights", "gradient-checkpointing", "rmsprop-cosine", "tensorboard-eval-save"],
)
def test_training_options_run_to_the_end(tmp_path, options):
    result = train_tiny(tmp_path, "run", *options)
    assert len(result.history) == 3 and all(math.isfinite(x) for x in train_losses(result))
    logged = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in logged if line["split"] == "train"] == [1, 2, 3]


def test_held_out_metrics_carry_their_size_and_standard_errors(tmp_path, capsys):
    assert main(["train", *tiny_overrides(tmp_path, "run")]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "final" / "report.json").read_text())
    initial, final = report["initial_eval"], report["final_eval"]
    held_out = int(final["examples"])
    assert held_out == initial["examples"] > 0
    p = final["accuracy"]
    assert final["accuracy_se"] == pytest.approx(math.sqrt(p * (1 - p) / held_out))
    assert final["margin_se"] > 0 and final["loss_se"] > 0
    assert f"held-out metric ({held_out} examples)" in out
    assert f"± is one standard error over the {held_out} held-out examples" in out
    assert f"only {held_out} held-out examples" in out  # so few that the report says so
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["accuracy"], ["margin"])
    }
    assert rows["accuracy"][-3:] == [f"{final['accuracy']:.4f}", "±", f"{final['accuracy_se']:.4f}"]


def test_an_sft_run_reports_what_sft_optimises(tmp_path, capsys):
    assert main(["train", *tiny_overrides(tmp_path, "sft"), "loss=sft"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "sft" / "final" / "report.json").read_text())
    initial, final = report["initial_eval"], report["final_eval"]
    assert final["nll_per_token"] < initial["nll_per_token"]  # three steps at lr 1e-3 lower the NLL
    assert final["perplexity"] == pytest.approx(math.exp(final["nll_per_token"]))
    table = out.split("held-out metric", 1)[1].splitlines()
    assert [line.split()[0] for line in table[1:4]] == ["nll_per_token", "perplexity", "loss"]
    assert table[4].startswith("secondary: preference accuracy of the policy's log-probs")
    assert not any(line.startswith("margin") for line in table)
    assert "nll_per_token" not in train_tiny(tmp_path, "dpo").final_metrics  # a preference loss reports none
