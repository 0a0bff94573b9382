"""The README's promises: its loss example works as written, CI runs exactly its test command, and its "Train on
your data" commands run."""

import gzip
import json
import re
import subprocess
from pathlib import Path

import torch

from prefopt import Scores, get_loss, register_loss
from prefopt.cli import main
from prefopt.losses import registry
from prefopt.reference import cache_info
from prefopt.verify import check_loss

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    section = README.split("## Set-up: two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_gives_two_setup_commands_and_ci_runs_its_test_command():
    install_and_train, test_command = _setup_commands()
    assert install_and_train.endswith("prefopt train")
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci_script.splitlines()
    install = install_and_train.removesuffix("&& prefopt train").strip()
    assert install.removeprefix("pip ") in ci_script  # CI installs what the README installs


def test_readme_loss_example_registers_trains_a_step_and_verifies(monkeypatch):
    section = README.split("## Write a loss in ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    register_loss(namespace["margin_dpo"])
    try:
        loss = get_loss("margin_dpo", margin=0.5)
        policy = torch.tensor([[-1.0, -2.0]], dtype=torch.float64, requires_grad=True)
        reference = torch.tensor([[-1.5, -1.5]], dtype=torch.float64)
        out = loss(Scores(policy=policy, reference=reference))
        d = 0.1 * ((-1.0 + 1.5) - (-2.0 + 1.5)) - 0.5
        assert torch.isclose(out.loss, torch.log1p(torch.exp(torch.tensor(-d, dtype=torch.float64))))
        results = check_loss("margin_dpo", max_examples=10)
        assert not [r for r in results if r.failed], [r.counterexample for r in results if r.failed]
    finally:
        registry.unregister("margin_dpo")


def _train_on_your_data_block() -> str:
    section = README.split("## Train on your data", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def _write_hh_split(path: Path, num_rows: int = 40) -> Path:
    """HH-RLHF-style dialogues (gzipped JSON Lines) with one malformed row: an empty rejected answer."""
    rows = []
    for i in range(num_rows):
        dialogue = f"\n\nHuman: what is {i} plus {i}?\n\nAssistant:"
        rows.append({"chosen": f"{dialogue} It is {2 * i}.", "rejected": f"{dialogue} I do not know."})
    rows.insert(5, {"chosen": "\n\nHuman: hello\n\nAssistant: Hi.", "rejected": ""})
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def _commands(block: str, workdir: Path) -> list[list[str]]:
    """The arguments of each ``prefopt`` command of ``block`` as bash expands them (arrays, continuations)."""
    record = workdir / "commands.tsv"
    script = f"prefopt() {{ printf '%s\\t' \"$@\" >> {record}; echo >> {record}; }}\n{block}"
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, check=True)
    return [line.rstrip("\t").split("\t") for line in record.read_text().splitlines()]


def test_readme_train_on_your_data_commands_run(tmp_path, monkeypatch, capsys):
    """The section's commands, verbatim but for the HH-RLHF paths (small generated files) and steps / 10."""
    block = _train_on_your_data_block()
    for split in sorted(set(re.findall(r"\.\./shared/data/hh-rlhf/([\w-]+)/test\.jsonl\.gz", block))):
        generated = _write_hh_split(tmp_path / "hh" / split / "test.jsonl.gz")
        block = block.replace(f"../shared/data/hh-rlhf/{split}/test.jsonl.gz", str(generated))
    assert "../shared" not in block
    block = re.sub(r"optim\.max_steps=(\d+)", lambda m: f"optim.max_steps={int(m.group(1)) // 10}", block)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFOPT_CACHE_DIR", str(tmp_path / "cache"))
    outputs = []
    for arguments in _commands(block, tmp_path):
        assert main(arguments) == 0, arguments
        outputs.append(capsys.readouterr().out)
    assert [arguments[0] for arguments in _commands(_train_on_your_data_block(), tmp_path)][-2:] == ["eval", "cache"]
    sft, dpo, resumed, evaluation, listing = outputs
    assert "skipped 1 rows" in sft  # the malformed row, counted
    assert "reference  none (loss sft needs no reference)" in sft
    reference = next(line for line in dpo.splitlines() if line.startswith("  reference"))
    assert reference.split()[1] == "runs/sft/final;"  # DPO's reference is the SFT model
    assert "resumed from" in resumed
    assert json.loads((tmp_path / "runs" / "dpo" / "final" / "report.json").read_text())["steps"] == 3
    assert "accuracy" in evaluation
    data = next(line for line in evaluation.splitlines() if line.startswith("  data"))
    assert str(tmp_path / "hh" / "helpful-online") in data  # the file evaluated: data.eval_path
    assert all(entry.digest[:16] in listing for entry in cache_info(tmp_path / "cache"))
