"""``prefopt train --help`` lists every setting with its default, read from the configuration model."""

import pytest
import yaml

from prefopt.cli import main
from prefopt.config import RunConfig


def _settings(help_text: str) -> dict[str, str]:
    """``name -> text`` of each setting line of the help, its wrapped continuation lines joined."""
    settings, name = {}, None
    for line in help_text.split("defaults", 1)[1].splitlines()[1:]:
        if line.startswith("    ") and name is not None:
            settings[name] += " " + line.strip()
        elif line.startswith("  "):
            name, _, rest = line.strip().partition(": " if ": " in line.split("=", 1)[0] else "=")
            settings[name] = rest
    return settings


def test_train_help_lists_every_section_and_key_with_its_default(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    settings = _settings(out)
    defaults = RunConfig()
    assert set(settings) == set(RunConfig.model_fields)
    for name in ("seed", "loss"):
        assert yaml.safe_load(settings[name].split("  (", 1)[0]) == getattr(defaults, name)
    for name in set(settings) - {"seed", "loss"}:
        section = getattr(defaults, name)
        shown = dict(item.split("=", 1) for item in settings[name].split())
        assert list(shown) == list(type(section).model_fields), name
        for key, text in shown.items():
            if (name, key) != ("logging", "output_dir"):  # resolved from data.path; the field's default is null
                assert yaml.safe_load(text) == getattr(section, key), f"{name}.{key}"
    assert "docs/configuration.md" in out
