"""The README's promises: its loss example works as written, and CI runs exactly its test command."""

import re
from pathlib import Path

import torch

from prefopt import Scores, get_loss, register_loss
from prefopt.losses import registry
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
