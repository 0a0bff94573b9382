"""The scorer registry: the loss registry's machinery (:class:`prefopt.registry.Registry`) on ``prefopt.scorers``.

An entry point names a *scorer factory*: a callable whose keyword arguments are the scorer's options and which
returns a :data:`Scorer`, a callable mapping ``prompts`` and ``completions`` (two lists of N texts) to N finite
floats, higher is better. The factory's docstring documents it; its first line is the summary that
``prefopt scorers`` lists. A third-party package declares its own in its ``pyproject.toml``::

    [project.entry-points."prefopt.scorers"]
    my-scorer = "my_package.scoring:MyScorer"
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from prefopt.registry import Registry

GROUP = "prefopt.scorers"

#: ``scorer(prompts, completions) -> scores``: N texts each, N finite floats, higher is better.
Scorer = Callable[[Sequence[str], Sequence[str]], Sequence[float]]


class ScorerError(ValueError):
    """Options a scorer does not take, or scores that are not one finite number per completion."""


def _check_factory(name: str, value: Any) -> Callable[..., Scorer]:
    if not callable(value):
        raise TypeError(f"expected a scorer factory (a callable returning a scorer), got {type(value).__name__}")
    return value


registry: Registry[Callable[..., Scorer]] = Registry(GROUP, kind="scorer", check=_check_factory)


def scorer_summary(factory: Callable[..., Scorer]) -> str:
    """The first line of the factory's docstring ("" without one)."""
    return (inspect.getdoc(factory) or "").strip().splitlines()[0] if inspect.getdoc(factory) else ""


def build_scorer(name: str, **options: Any) -> Scorer:
    """The scorer ``name`` made with ``options``, checked to return one finite float per completion.

    Raises:
        prefopt.registry.RegistryError: no usable scorer has that name.
        ScorerError: the factory rejects the options (the message names the scorer).
    """
    factory = registry.get(name)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise ScorerError(f"scorer {name!r} from {registry.provider(name)}: {error}") from None
    except ValueError:  # a callable without a signature (a builtin): let the call decide
        pass
    try:
        scorer = factory(**options)
    except ModuleNotFoundError as error:
        raise ScorerError(
            f"scorer {name!r} needs the module {error.name!r}, which is not installed "
            f"(the built-in scorers' packages: pip install 'prefopt[experiments]')"
        ) from None
    return _Checked(name, scorer)


class _Checked:
    """Calls a scorer and checks that it returns one finite float per completion."""

    def __init__(self, name: str, scorer: Scorer) -> None:
        self.name = name
        self.scorer = scorer

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        scores = [float(s) for s in self.scorer(prompts, completions)]
        if len(scores) != len(completions):
            raise ScorerError(f"scorer {self.name!r} returned {len(scores)} scores for {len(completions)} completions")
        bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
        if bad:
            raise ScorerError(
                f"scorer {self.name!r} returned a non-finite score ({scores[bad[0]]}) for {completions[bad[0]]!r}"
            )
        return scores
