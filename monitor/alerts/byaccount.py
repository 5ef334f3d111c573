"""Entries kept per account, read as one mapping.

The engine's firing alerts and forecasts are replaced an account at a time, by an
evaluation in the alert worker, and read whole by scrapes and the status page. Kept
in one dict, each evaluation copied every account's entries to replace its own: at
100 accounts, 400 evaluations a cycle each copied ~1,700 alerts. Here an evaluation
replaces its account's entries alone, and the merged mapping is built when it is
next read, once however many accounts changed meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

__all__ = ["ByAccount"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByAccount(Generic[K, V]):
    """Read-only mappings per account; :attr:`view` merges them (keys unique across
    accounts). Writes take ``lock``; a read meanwhile sees the last merged view."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._of: dict[str, Mapping[K, V]] = {}
        self._view: Mapping[K, V] | None = MappingProxyType({})

    def of(self, account: str) -> Mapping[K, V]:
        """The account's entries (empty if it has none)."""
        return self._of.get(account, MappingProxyType({}))

    def replace(self, account: str, entries: Mapping[K, V]) -> None:
        """The account's entries are now ``entries``. Call with the lock held."""
        if entries:
            self._of[account] = MappingProxyType(dict(entries))
        else:
            self._of.pop(account, None)
        self._view = None

    def reset(self, entries: Iterable[tuple[str, K, V]]) -> None:
        """Every account's entries at once, as (account, key, value). Lock held."""
        of: dict[str, dict[K, V]] = {}
        for account, key, value in entries:
            of.setdefault(account, {})[key] = value
        self._of = {a: MappingProxyType(e) for a, e in of.items()}
        self._view = None

    @property
    def view(self) -> Mapping[K, V]:
        """Every account's entries, merged when read after a change."""
        view = self._view
        if view is None:
            with self._lock:
                view = self._view
                if view is None:
                    merged: dict[K, V] = {}
                    for entries in self._of.values():
                        merged.update(entries)
                    view = self._view = MappingProxyType(merged)
        return view
