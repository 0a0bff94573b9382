"""A generic named registry fed by Python entry points and in-process registration.

Finding plugins is kept apart from loading them: ``entry_points(group=...)`` is read once for names and
providers, and an entry point is imported only when its name is first asked for. A plugin that fails to
import (it raises, or calls ``sys.exit()``; a KeyboardInterrupt still stops the program) or that the kind's
check rejects is reported with its distribution's name and leaves every other entry usable; two providers of one
name are an error that names both; an unknown name gets a "did you mean".

Setting the environment variable ``PREFOPT_NO_PLUGINS=1`` turns off autoloading of third-party entry points:
only those of the ``prefopt`` distribution itself (the built-ins) and in-process registrations remain.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

if sys.version_info >= (3, 12):
    from importlib.metadata import EntryPoint, entry_points
else:  # the backport gives 3.12 semantics (EntryPoint.dist, group selection) on older Pythons
    from importlib_metadata import EntryPoint, entry_points

T = TypeVar("T")

BUILTIN_DISTRIBUTION = "prefopt"
NO_PLUGINS_ENV = "PREFOPT_NO_PLUGINS"
IN_PROCESS = "<in-process>"


class RegistryError(LookupError):
    """Base class of the registry's errors."""


class UnknownNameError(RegistryError, KeyError):
    """No provider offers the requested name."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class NameCollisionError(RegistryError):
    """Two providers declare the same name."""


class PluginLoadError(RegistryError):
    """A plugin's entry point could not be imported or is not of the expected kind."""


@dataclass(frozen=True)
class Provider:
    """Who provides a registered name: a distribution (with version) or the running process."""

    distribution: str
    version: str = ""

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}".strip()


@dataclass
class _Entry:
    provider: Provider
    entry_point: EntryPoint | None = None
    value: Any = None
    error: PluginLoadError | None = None


def _plugins_disabled() -> bool:
    return os.environ.get(NO_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


class Registry(Generic[T]):
    """Names to objects of one kind, discovered from the entry-point ``group``.

    Args:
        group: entry-point group to read, e.g. ``"prefopt.losses"``.
        kind: what the objects are, for messages (``"loss"``).
        check: validates a loaded object and returns it; raises ``TypeError`` with a reason if it is unusable.
    """

    def __init__(self, group: str, kind: str, check: Callable[[str, Any], T]) -> None:
        self.group = group
        self.kind = kind
        self._check = check
        self._entries: dict[str, list[_Entry]] | None = None

    # discovery ---------------------------------------------------------------------------------------
    def _discover(self) -> dict[str, list[_Entry]]:
        if self._entries is None:
            entries: dict[str, list[_Entry]] = {}
            skip_third_party = _plugins_disabled()
            seen: set[tuple[str, str]] = set()
            for entry_point in entry_points(group=self.group):
                dist = entry_point.dist
                provider = Provider(dist.name, dist.version) if dist is not None else Provider("<unknown>")
                if skip_third_party and provider.distribution != BUILTIN_DISTRIBUTION:
                    continue
                # one distribution visible twice on sys.path (e.g. an editable install) is one provider
                if (entry_point.name, provider.distribution) in seen:
                    continue
                seen.add((entry_point.name, provider.distribution))
                entries.setdefault(entry_point.name, []).append(_Entry(provider, entry_point=entry_point))
            self._entries = entries
        return self._entries

    def refresh(self) -> None:
        """Forget discovered entry points (in-process registrations are forgotten too)."""
        self._entries = None

    # registration ------------------------------------------------------------------------------------
    def register(self, name: str, value: T, *, replace: bool = False) -> T:
        """Register ``value`` under ``name`` from the running process.

        Raises:
            NameCollisionError: the name is already provided (unless ``replace=True``).
        """
        entries = self._discover()
        value = self._check(name, value)
        existing = entries.get(name, [])
        if existing and not replace:
            others = ", ".join(str(e.provider) for e in existing)
            raise NameCollisionError(
                f"{self.kind} {name!r} is already provided by {others}; "
                f"registering it again from {IN_PROCESS} would collide (pass replace=True to override)"
            )
        entries[name] = [_Entry(Provider(IN_PROCESS), value=value)]
        return value

    def unregister(self, name: str) -> None:
        """Remove an in-process registration (tests and notebooks); installed entry points stay.

        Raises:
            RegistryError: ``name`` is provided by an installed distribution, not registered in-process.
        """
        entries = self._discover()
        if name not in entries:
            return
        if entries[name][0].provider.distribution != IN_PROCESS:
            raise RegistryError(f"{self.kind} {name!r} comes from {entries[name][0].provider}, not {IN_PROCESS}")
        del entries[name]

    # lookup ------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted, without importing anything."""
        return sorted(self._discover())

    def provider(self, name: str) -> Provider:
        return self._single_entry(name).provider

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing its plugin on first use."""
        entry = self._single_entry(name)
        self._load(name, entry)
        if entry.error is not None:
            raise entry.error
        return entry.value

    def items(self) -> Iterator[tuple[str, T | RegistryError]]:
        """Every name with its object, or with the error that makes it unusable."""
        for name in self.names():
            try:
                yield name, self.get(name)
            except RegistryError as error:
                yield name, error

    def _single_entry(self, name: str) -> _Entry:
        entries = self._discover()
        candidates = entries.get(name)
        if not candidates:
            close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        if len(candidates) > 1:
            providers = " and ".join(str(c.provider) for c in candidates)
            raise NameCollisionError(
                f"{self.kind} {name!r} is provided by more than one distribution: {providers}; uninstall one of them"
            )
        return candidates[0]

    def _load(self, name: str, entry: _Entry) -> None:
        if entry.value is not None or entry.error is not None or entry.entry_point is None:
            return
        try:
            loaded = entry.entry_point.load()
        # a broken plugin must not take the others down, not even one that calls sys.exit() on import;
        # KeyboardInterrupt still stops the program
        except (Exception, SystemExit) as error:
            entry.error = PluginLoadError(
                f"{self.kind} {name!r} from distribution {entry.provider} failed to load "
                f"({entry.entry_point.value}): {type(error).__name__}: {error}"
            )
            entry.error.__cause__ = error
            return
        try:
            entry.value = self._check(name, loaded)
        except TypeError as error:
            entry.error = PluginLoadError(
                f"{self.kind} {name!r} from distribution {entry.provider} is unusable "
                f"({entry.entry_point.value}): {error}"
            )
