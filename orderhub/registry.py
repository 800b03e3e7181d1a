"""A small typed registry: a duplicate key or an unknown key is an error, never a silent miss.

Used for channel adapters, consistency rules, notifiers and remediation actions. Entries are
registered with the decorator at import time; each app imports its modules in ``ready()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(LookupError):
    pass


class Registry(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            self.add(key, entry)
            return entry

        return decorator

    def add(self, key: str, entry: T) -> None:
        if key in self._entries:
            raise RegistryError(f"{self.name}: {key!r} is already registered")
        self._entries[key] = entry

    def get(self, key: str) -> T:
        try:
            return self._entries[key]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"{self.name}: unknown key {key!r} (known: {known})") from None

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())
