"""The installed properties: the loss registry's machinery (:class:`prefopt.registry.Registry`) on
``prefopt.properties``.

An entry point of the group names a *property module*; importing it defines its properties with
:func:`~prefopt.verify.property.register_property`, and they are the properties of that module and of its
submodules, in definition order. prefopt declares its own in its ``pyproject.toml`` exactly as a plugin does::

    [project.entry-points."prefopt.properties"]
    prefopt = "prefopt.verify.properties"        # the built-ins (prefopt's pyproject)
    simpo = "prefopt_simpo.properties"           # a plugin's own properties (the plugin's pyproject)

The run order is: the built-ins (in the order ``prefopt.verify.properties`` imports its modules), then each
plugin's properties (by distribution name, then entry-point name), then properties defined in the running
process outside any property module (a notebook, a test). A property module that fails to import, defines no
property or takes a name already defined is a :class:`PropertyProblem` naming its distribution; the others stay
usable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from prefopt.registry import BUILTIN_DISTRIBUTION, IN_PROCESS, Provider, Registry, RegistryError
from prefopt.verify.property import DEFINED, Property

GROUP = "prefopt.properties"


def _defines(module: str, prop: Property) -> bool:
    return prop.module == module or prop.module.startswith(f"{module}.")


def _check_module(name: str, value: Any) -> ModuleType:
    if not isinstance(value, ModuleType):
        raise TypeError(f"expected a module that defines properties, got {type(value).__name__}")
    if not any(_defines(value.__name__, prop) for prop in DEFINED.values()):
        raise TypeError(f"module {value.__name__} defines no property (prefopt.verify.property.register_property)")
    return value


class PropertyRegistry(Registry[ModuleType]):
    """A :class:`Registry` of property modules that also tells what its entry points declare before any loads."""

    def declared(self) -> list[tuple[Provider, str]]:
        """The provider and the module of every discovered entry point, loaded or not."""
        return [
            (entry.provider, entry.entry_point.module)
            for entries in self._discover().values()
            for entry in entries
            if entry.entry_point is not None
        ]


registry = PropertyRegistry(GROUP, kind="property module", check=_check_module)


@dataclass(frozen=True)
class ProvidedProperty:
    """An installed property and the distribution that provides it."""

    property: Property
    provider: Provider


@dataclass(frozen=True)
class PropertyProblem:
    """A property module that cannot be used, and why."""

    name: str
    error: RegistryError


def _usable_modules() -> list[tuple[Provider, ModuleType]]:
    """The loaded property modules with their providers: built-ins first, then by distribution and name."""
    loaded = [
        (registry.provider(name), name, value) for name, value in registry.items() if isinstance(value, ModuleType)
    ]
    loaded.sort(key=lambda item: (item[0].distribution != BUILTIN_DISTRIBUTION, item[0].distribution, item[1]))
    return [(provider, module) for provider, _, module in loaded]


def list_properties() -> list[ProvidedProperty]:
    """Every usable property in run order (see the module's docstring); imports the property modules."""
    listed = [
        ProvidedProperty(prop, provider)
        for provider, module in _usable_modules()
        for prop in DEFINED.values()
        if _defines(module.__name__, prop)
    ]
    # a module that failed half-way through its import may have defined some properties: they are not in-process
    modules = {module for _, module in registry.declared()}
    listed += [
        ProvidedProperty(prop, Provider(IN_PROCESS))
        for prop in DEFINED.values()
        if not any(_defines(module, prop) for module in modules)
    ]
    return listed


def property_problems() -> list[PropertyProblem]:
    """Property modules that cannot be used, and a missing registration of the built-ins.

    An install of prefopt whose metadata predates the ``prefopt.properties`` group would otherwise check nothing
    and pass; it is reported so that nothing is silently left unchecked.
    """
    problems = [PropertyProblem(name, value) for name, value in registry.items() if isinstance(value, RegistryError)]
    if not any(provider.distribution == BUILTIN_DISTRIBUTION for provider, _ in registry.declared()):
        problems.append(
            PropertyProblem(
                BUILTIN_DISTRIBUTION,
                RegistryError(
                    f"the installed {BUILTIN_DISTRIBUTION} declares no entry point of {GROUP!r}, so its built-in "
                    f"properties are not registered; reinstall it (pip install -e . in a checkout)"
                ),
            )
        )
    return problems


class _InstalledProperties(Mapping[str, Property]):
    """Name to property for every usable installed property, in run order, read afresh on each use."""

    def _current(self) -> dict[str, Property]:
        return {item.property.name: item.property for item in list_properties()}

    def __getitem__(self, name: str) -> Property:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


#: every usable installed property by name, in run order (a read-only view of :func:`list_properties`)
PROPERTIES: Mapping[str, Property] = _InstalledProperties()
