"""Fake installed distributions for the plugin tests, and the entry points of this checkout's pyproject.toml as
an install of the checkout declares them.

An editable install records its entry points when it is installed; one made before the checkout declared the
``prefopt.scorers`` group does not list it. :func:`declare_checkout_entry_points` puts a ``prefopt``
``.dist-info`` declaring every group of the checkout (losses, scorers, properties) first on ``sys.path``: the first
distribution of a name on the path is the one whose entry points count, so it declares all of them.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SCORERS = "prefopt.scorers"
PROPERTIES = "prefopt.properties"


def checkout_entry_points() -> dict[str, dict[str, str]]:
    """``{group: {name: "module:attribute"}}`` of every entry-point group pyproject.toml declares."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]


def write_distribution(directory: Path, dist: str, version: str, entry_points: dict[str, dict[str, str]]) -> None:
    """A ``<dist>-<version>.dist-info`` folder in ``directory`` declaring ``{group: {name: "module:attribute"}}``."""
    info = directory / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def write_plugin(
    directory: Path, dist: str, version: str, group: str, sources: dict[str, str], attribute: str | None
) -> list[str]:
    """A fake distribution ``dist`` in ``directory`` whose entry points of ``group`` name one module per entry,
    ``<dist>_<name>`` written from ``sources[name]`` and exposing ``attribute`` (None: the entry point names the
    module itself, as a property module's does). Returns the module names."""
    modules = {name: f"{dist}_{name.replace('-', '_')}" for name in sources}
    for name, module in modules.items():
        (directory / f"{module}.py").write_text(textwrap.dedent(sources[name]))
    suffix = "" if attribute is None else f":{attribute}"
    write_distribution(
        directory, dist, version, {group: {name: f"{module}{suffix}" for name, module in modules.items()}}
    )
    importlib.invalidate_caches()
    return list(modules.values())


@contextmanager
def installed_plugins(
    directory: Path, monkeypatch: pytest.MonkeyPatch, group: str, attribute: str | None, registry
) -> Iterator[Callable[..., None]]:
    """Yields ``install(dist, {name: module_source}, version="1.0")``, which fakes an installed distribution
    ``dist`` providing those entries of ``group`` (:func:`write_plugin`) and refreshes ``registry`` so the next
    lookup rediscovers entry points; on exit the plugin modules are forgotten and ``registry`` refreshed again."""
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(directory))

    def install(dist: str, sources: dict[str, str], version: str = "1.0") -> None:
        modules.extend(write_plugin(directory, dist, version, group, sources, attribute))
        registry.refresh()

    try:
        yield install
    finally:
        for module in modules:
            sys.modules.pop(module, None)
        registry.refresh()


def declare_checkout_entry_points(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefopt.losses import registry as losses
    from prefopt.scoring import registry as scorers
    from prefopt.verify.catalogue import registry as properties

    write_distribution(directory, "prefopt", "0.1.0", checkout_entry_points())
    monkeypatch.syspath_prepend(str(directory))
    importlib.invalidate_caches()
    losses.refresh()
    scorers.refresh()
    properties.refresh()
