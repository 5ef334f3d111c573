"""The simulator's data model: accounts holding raw, vendor-shaped records.

A :class:`Dataset` is the accounts one simulator serves, looked up by name or
appkey; a :class:`SimAccount` holds one account's records (see
:mod:`monitor.simulator.records`) in the six collections the endpoints list.
Files become datasets in :mod:`monitor.simulator.loader`, synthetic fleets in
:mod:`monitor.simulator.fleet`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.simulator.records import DatasetError, Record, render_actions, render_records

__all__ = [
    "COLLECTIONS",
    "DOMESTIC_GATEWAY",
    "INTERNATIONAL_GATEWAY",
    "LIST_COLLECTIONS",
    "Dataset",
    "SimAccount",
]

DOMESTIC_GATEWAY = "gw.tvs.qq.com"
INTERNATIONAL_GATEWAY = "gw-sg.tvs.qq.com"

#: the record lists, one per listing endpoint, and the getaction mapping
LIST_COLLECTIONS = ("services", "timbres", "anchors", "images", "small_sample_images")
COLLECTIONS = (*LIST_COLLECTIONS, "actions")


def _resolve(record: Record, dotted: str) -> tuple[Any, str] | None:
    """Return (container, last key) for a dotted path, or None when absent."""
    parts = dotted.split(".")
    node: Any = record
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, dict):
        return None
    return node, parts[-1]


def _detail_objects(record: Record) -> Iterator[dict[str, Any]]:
    """Every figures object of a ServiceAssetInfo: universal and type-specific, object or array."""
    for key, value in record.items():
        if not key.endswith("InfoDetail"):
            continue
        items = value if isinstance(value, list) else [value]
        yield from (item for item in items if isinstance(item, dict))


@dataclass(eq=False)
class SimAccount:
    """One IVH account of the simulator and its raw records.

    Mutate through the methods while a server runs: they take the account's
    lock, so a concurrent request sees either the old or the new collection,
    never a half-edited one.
    """

    name: str
    appkey: str
    access_token: str
    services: list[Record] = field(default_factory=list)
    timbres: list[Record] = field(default_factory=list)
    anchors: list[Record] = field(default_factory=list)
    images: list[Record] = field(default_factory=list)
    small_sample_images: list[Record] = field(default_factory=list)
    actions: dict[str, list[Record]] = field(default_factory=dict)
    gateway: str = DOMESTIC_GATEWAY
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _list(self, collection: str) -> list[Record]:
        if collection not in LIST_COLLECTIONS:
            raise KeyError(f"unknown record collection {collection!r}; one of {LIST_COLLECTIONS}")
        records: list[Record] = getattr(self, collection)
        return records

    def records(self, collection: str) -> list[Record]:
        """A deep copy of a list collection."""
        with self._lock:
            return copy.deepcopy(self._list(collection))

    def page(
        self,
        collection: str,
        predicate: Callable[[Record], bool],
        page_index: int,
        page_size: int,
    ) -> tuple[int, list[Record]]:
        """(Total, deep-copied records of the 1-based page) from one consistent view."""
        with self._lock:
            matching = [r for r in self._list(collection) if predicate(r)]
            start = (page_index - 1) * page_size
            return len(matching), copy.deepcopy(matching[start : start + page_size])

    def actions_for(self, virtualman_key: str) -> list[Record]:
        with self._lock:
            return copy.deepcopy(self.actions.get(virtualman_key, []))

    def replace(self, collection: str, value: Any, *, now: datetime | None = None) -> None:
        """Replace a whole collection (a list of records, or the actions mapping).

        Relative dates in the new records are rendered against ``now`` (default:
        the wall clock), as in a dataset file.
        """
        now = now or datetime.now(UTC)
        where = f"accounts[{self.name}].{collection}"
        if collection == "actions":
            rendered_actions = render_actions(value, now, where)
            with self._lock:
                self.actions = rendered_actions
            return
        self._list(collection)  # validates the name before any work
        rendered = render_records(value, now, where)
        with self._lock:
            setattr(self, collection, rendered)

    def remove(self, collection: str, /, **match: Any) -> int:
        """Remove the records whose top-level fields equal ``match``; return how many."""
        with self._lock:
            records = self._list(collection)
            kept = [r for r in records if not all(r.get(k) == v for k, v in match.items())]
            setattr(self, collection, kept)
            return len(records) - len(kept)

    def update(self, collection: str, changes: Mapping[str, Any], /, **match: Any) -> int:
        """Set dotted-path ``changes`` on the records matching ``match``; return how many."""
        count = 0
        with self._lock:
            for record in self._list(collection):
                if not all(record.get(k) == v for k, v in match.items()):
                    continue
                count += 1
                for dotted, value in changes.items():
                    target = _resolve(record, dotted)
                    if target is not None:
                        target[0][target[1]] = copy.deepcopy(value)
        return count

    def set_service_figures(self, service_type: str, *, index: int = 0, **figures: int) -> None:
        """Change figures (e.g. ``RemainMilliseconds=0``) of the ``index``-th package of a type.

        Every detail object that carries the figure is changed, universal and
        type-specific alike, as the real API repeats them (docs/ivh-api.md §4.1).
        """
        with self._lock:
            packages = [r for r in self.services if r.get("ServiceType") == service_type]
            if index >= len(packages):
                raise KeyError(f"{self.name} has no package #{index} of {service_type}")
            for detail in _detail_objects(packages[index]):
                for key, value in figures.items():
                    if key in detail:
                        detail[key] = value

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "name": self.name,
                "appkey": self.appkey,
                "access_token": self.access_token,
                "gateway": self.gateway,
            }
            for collection in COLLECTIONS:
                out[collection] = copy.deepcopy(getattr(self, collection))
            return out

    def clone(self) -> SimAccount:
        data = self.to_dict()
        return SimAccount(**data)

    def _restore(self, other: SimAccount) -> None:
        data = other.to_dict()
        with self._lock:
            for collection in COLLECTIONS:
                setattr(self, collection, data[collection])


class Dataset:
    """The accounts the simulator serves, looked up by name or appkey."""

    def __init__(self, accounts: Iterable[SimAccount] = ()) -> None:
        self._accounts: dict[str, SimAccount] = {}
        self._by_appkey: dict[str, SimAccount] = {}
        for account in accounts:
            self.add(account)

    def add(self, account: SimAccount) -> None:
        if account.name in self._accounts:
            raise DatasetError(f"duplicate account name {account.name!r}")
        if account.appkey in self._by_appkey:
            raise DatasetError(f"duplicate appkey {account.appkey!r}")
        self._accounts[account.name] = account
        self._by_appkey[account.appkey] = account

    @property
    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    def by_appkey(self, appkey: str) -> SimAccount | None:
        return self._by_appkey.get(appkey)

    def find(self, name_or_appkey: str) -> SimAccount | None:
        return self._accounts.get(name_or_appkey) or self._by_appkey.get(name_or_appkey)

    def account(self, name_or_appkey: str) -> SimAccount:
        found = self.find(name_or_appkey)
        if found is None:
            raise KeyError(f"no account {name_or_appkey!r}")
        return found

    def clone(self) -> Dataset:
        return Dataset(account.clone() for account in self._accounts.values())

    def restore(self, snapshot: Dataset) -> None:
        """Put every account's records back to ``snapshot``'s (same accounts by name)."""
        for account in self._accounts.values():
            original = snapshot.find(account.name)
            if original is not None:
                account._restore(original)

    def to_dict(self) -> dict[str, Any]:
        return {"accounts": [account.to_dict() for account in self._accounts.values()]}
