"""The entry points of this checkout's pyproject.toml, as an install of the checkout declares them.

An editable install records its entry points when it is installed; one made before the checkout declared the
``prefopt.scorers`` group does not list it. :func:`declare_checkout_entry_points` puts a ``prefopt``
``.dist-info`` declaring every group of the checkout (losses and scorers) first on ``sys.path``: the first
distribution of a name on the path is the one whose entry points count, so it declares all of them.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SCORERS = "prefopt.scorers"


def checkout_entry_points() -> dict[str, dict[str, str]]:
    """``{group: {name: "module:attribute"}}`` of every entry-point group pyproject.toml declares."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]


def declare_checkout_entry_points(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefopt.losses import registry as losses
    from prefopt.scoring import registry as scorers

    info = directory / "prefopt-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: prefopt\nVersion: 0.1.0\n")
    lines = []
    for group, entries in checkout_entry_points().items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(directory))
    importlib.invalidate_caches()
    losses.refresh()
    scorers.refresh()
