"""The loss registry: look a loss up by name, register one in this process, list them for the CLI.

Losses come from the entry-point group ``prefopt.losses`` (built-ins and plugins alike) or from
:func:`register_loss`; :func:`get_loss` binds a registered definition to validated options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from prefopt.losses.bound import Loss
from prefopt.losses.declare import Declarations, LossDefinition, LossFunction, LossOptionsError, define_loss
from prefopt.rankings import PAIR_SCHEMES, PairScheme
from prefopt.registry import Provider, Registry, RegistryError

GROUP = "prefopt.losses"


def _check_definition(name: str, value: Any) -> LossDefinition:
    """``value`` if it is a usable definition of ``name``; a TypeError saying why not otherwise.

    Usable means: made by :func:`define_loss` under this name, its options all have valid defaults, and its
    declarations for those defaults are a :class:`Declarations` (``prefopt losses`` lists them).
    """
    if not isinstance(value, LossDefinition):
        raise TypeError(f"expected a LossDefinition made with prefopt.define_loss, got {type(value).__name__}")
    if value.name != name:
        raise TypeError(f"the definition is named {value.name!r} but registered as {name!r}")
    try:
        defaults = value.options()
    except ValidationError as error:
        raise TypeError(f"its options have no valid defaults ({_option_problems(error)})") from error
    _declarations_of(value, defaults, "the default options")
    return value


def _declarations_of(definition: LossDefinition, options: Any, which: str) -> Declarations:
    """The definition's declarations for ``options``; a TypeError naming ``which`` options when they fail."""
    try:
        declarations = definition.declarations(options)
    except Exception as error:  # the plugin's own code: any failure makes the loss unusable, not the process
        raise TypeError(f"its declarations for {which} raise {type(error).__name__}: {error}") from error
    if not isinstance(declarations, Declarations):
        raise TypeError(f"its declarations for {which} are a {type(declarations).__name__}, not a Declarations")
    return declarations


def _option_problems(error: ValidationError) -> str:
    return "; ".join(f"option {'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}" for e in error.errors())


registry: Registry[LossDefinition] = Registry(GROUP, kind="loss", check=_check_definition)


def get_loss(name: str, *, pairs: PairScheme = "all", **options: Any) -> Loss:
    """The registered loss ``name`` bound to ``options``.

    Args:
        name: registry name, e.g. ``"dpo"``.
        pairs: for pairwise-only losses on K-way data, which pairs to form (``all``, ``adjacent``,
            ``best_vs_rest``, ``best_vs_worst``).
        **options: the loss's options, validated by its own pydantic model.

    Raises:
        UnknownNameError: no such loss (with a "did you mean").
        LossOptionsError: an unknown or invalid option; the message names the option and the loss.
    """
    definition = registry.get(name)
    if pairs not in PAIR_SCHEMES:
        raise LossOptionsError(f"loss {name!r}: pairs={pairs!r} is not one of {', '.join(PAIR_SCHEMES)}")
    try:
        bound = definition.options(**options)
    except ValidationError as error:
        raise LossOptionsError(f"loss {name!r}: {_option_problems(error)}") from None
    try:
        declarations = _declarations_of(definition, bound, "these options")
    except TypeError as error:
        raise LossOptionsError(f"loss {name!r} from {registry.provider(name)}: {error}") from error
    loss = Loss(definition, bound, pairs=pairs, provider=registry.provider(name))
    if declarations.listwise and pairs != "all":
        raise LossOptionsError(f"loss {name!r} is listwise; the pairs option applies to pairwise losses only")
    return loss


def register_loss(name_or_definition: str | LossDefinition, *, replace: bool = False, **define_kwargs: Any) -> Any:
    """Register a loss in this process (notebooks, tests).

    Use as ``register_loss(definition)`` with a :class:`LossDefinition`, or as a decorator taking the same
    arguments as :func:`define_loss`::

        @register_loss("my_loss", options=MyOptions)
        def my_loss(scores, options): ...
    """
    if isinstance(name_or_definition, LossDefinition):
        return registry.register(name_or_definition.name, name_or_definition, replace=replace)

    def wrap(function: LossFunction) -> LossDefinition:
        definition = define_loss(name_or_definition, **define_kwargs)(function)
        return registry.register(definition.name, definition, replace=replace)

    return wrap


@dataclass(frozen=True)
class LossInfo:
    """One record of :func:`list_losses`; ``declarations`` are those of the default options."""

    name: str
    summary: str
    provider: Provider
    declarations: Declarations
    options: dict[str, Any]
    doc: str

    @property
    def kind(self) -> str:
        return "listwise" if self.declarations.listwise else "pairwise"


@dataclass(frozen=True)
class LossProblem:
    """A registered name that cannot be used, and why."""

    name: str
    error: RegistryError


def describe(definition: LossDefinition, provider: Provider) -> LossInfo:
    """The :class:`LossInfo` of ``definition``: its default options and their declarations."""
    defaults = {option: field_info.default for option, field_info in definition.options.model_fields.items()}
    return LossInfo(
        name=definition.name,
        summary=definition.summary,
        provider=provider,
        declarations=definition.declarations(definition.options()),
        options=defaults,
        doc=definition.doc,
    )


def list_losses() -> list[LossInfo]:
    """One record per usable loss, sorted by name; see :func:`loss_problems` for the unusable ones."""
    return [
        describe(value, registry.provider(name)) for name, value in registry.items() if not isinstance(value, Exception)
    ]


def loss_problems() -> list[LossProblem]:
    """Registered names that cannot be used: plugins that failed to import, names with two providers."""
    return [LossProblem(name, value) for name, value in registry.items() if isinstance(value, Exception)]
