"""Every registered loss, built-in or plugin, against the properties its declarations claim (docs/theory.md §8).

Parametrised over ``list_losses()``: an installed plugin gets these checks without writing a test, and the
properties of installed ``prefopt.properties`` plugins run beside the built-ins.
"""

from __future__ import annotations

import pytest

from prefopt import list_losses
from prefopt.losses import loss_problems
from prefopt.verify import check_loss, property_problems

MAX_EXAMPLES = 15  # per property; `prefopt verify NAME` searches harder (100 by default)


def test_every_registered_loss_and_property_module_loads():
    problems = [f"{p.name}: {p.error}" for p in [*loss_problems(), *property_problems()]]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", [info.name for info in list_losses()])
def test_declared_properties_hold(name):
    results = check_loss(name, max_examples=MAX_EXAMPLES, seed=0)
    failures = [f"{r.name}: {r.counterexample}" for r in results if r.failed]
    assert not failures, "\n\n".join(failures)
