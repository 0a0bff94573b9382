"""The project's own losses against the properties their declarations claim (docs/theory.md §8).

Parametrised over the registered losses that this repository provides: the built-ins (distribution ``prefopt``)
and the example plugin ``plugins/prefopt-simpo``, which CI installs. Other installed plugins, a loss one is still
writing included, are checked by ``prefopt verify NAME``, or here too with ``PREFOPT_TEST_ALL_PLUGINS=1``. The
properties of installed ``prefopt.properties`` plugins run beside the built-ins.
"""

from __future__ import annotations

import os

import pytest

from prefopt import list_losses
from prefopt.losses import loss_problems, registry
from prefopt.verify import check_loss, property_problems

MAX_EXAMPLES = 10  # per property; `prefopt verify NAME` searches harder (100 by default)
PROJECT_DISTRIBUTIONS = ("prefopt", "prefopt-simpo")
ALL_PLUGINS_ENV = "PREFOPT_TEST_ALL_PLUGINS"
PROJECT_PROPERTIES = ("prefopt", "simpo")  # entry-point names of the property modules of those distributions


def all_plugins_asked() -> bool:
    return os.environ.get(ALL_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def checked_here(name: str) -> bool:
    """Whether this suite checks the loss ``name``: the project's own, or every one under PREFOPT_TEST_ALL_PLUGINS."""
    return all_plugins_asked() or registry.provider(name).distribution in PROJECT_DISTRIBUTIONS


def test_every_tested_loss_and_property_module_loads():
    problems = [f"{p.name}: {p.error}" for p in loss_problems() if checked_here(p.name)]
    problems += [
        f"{p.name}: {p.error}" for p in property_problems() if all_plugins_asked() or p.name in PROJECT_PROPERTIES
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", [info.name for info in list_losses() if checked_here(info.name)])
def test_declared_properties_hold(name):
    results = check_loss(name, max_examples=MAX_EXAMPLES, seed=0)
    failures = [f"{r.name}: {r.counterexample}" for r in results if r.failed]
    assert not failures, "\n\n".join(failures)
