"""On-demand fault injection for the simulator.

A :class:`Fault` says what goes wrong (``kind``) and for which requests
(``account``, ``endpoint``, ``page``), how often (``times``, ``probability``).
The :class:`FaultRegistry` hands the server the faults that match a request;
a request consumes every fault it matches (``times`` counts down even when an
earlier fault, e.g. an HTTP error, makes a later one moot).

Kinds:

==================== ==========================================================
``latency``          add ``seconds`` before answering (adds to other latency)
``http_error``       HTTP ``status`` (e.g. 500/502/503/404) with an HTML body
``api_error``        envelope with ``Header.Code = code`` and ``message``
                     (HTTP 200 unless ``status`` is given)
``rate_limit``       code 100012 ``RequestLimitExceeded`` with HTTP 200, or
                     HTTP 429 (same envelope, ``Retry-After``) when ``status=429``
``malformed_record`` corrupt record ``record`` (index in the page, clamped) of a
                     successful page: ``corruption`` is ``wrong_type`` (first int
                     becomes ``"n/a"``), ``not_object`` or ``bad_date``
``hang``             never answer until the client gives up or the server stops
``garbage_body``     HTTP 200 with an HTML error page instead of JSON
``wrong_content_type`` the normal JSON body, sent as ``text/html``
``drip``             headers at once, then the body one byte every ``seconds``
                     (a peer that never quite stops answering)
``short_listing``    a page that carries ``count`` rows fewer than it should,
                     ``Total`` unchanged (rows fall short of ``Total``)
``total``            ``Total`` reported as ``total``; with ``fill`` every page is
                     full, padded with made-up rows (a ``Total`` that lies)
``shift``            the page served ``count`` rows early, as when a purchase
                     between two pages shifts offset pagination: the last rows
                     of the previous page repeat
``same_page``        ``PageIndex`` ignored: every page is the first
``no_total``         pages without ``Total``
==================== ==========================================================

Clock skew is not a fault: give the server a skewed ``clock`` or set its
offset through ``PUT /_sim/clock``.

What the listing and record faults do to a page is here too (:func:`bent_page`,
:func:`corrupt`); the faults that replace the whole answer (``hang``,
``http_error``, ...) are answered by :mod:`monitor.simulator.api`.
"""

from __future__ import annotations

import builtins
import copy
import random
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.simulator.dataset import SimAccount
from monitor.simulator.records import Record

__all__ = ["ActiveFault", "Fault", "FaultKind", "FaultRegistry", "bent_page", "corrupt"]

FaultKind = Literal[
    "latency",
    "http_error",
    "api_error",
    "rate_limit",
    "malformed_record",
    "hang",
    "garbage_body",
    "wrong_content_type",
    "drip",
    "short_listing",
    "total",
    "shift",
    "same_page",
    "no_total",
]
Corruption = Literal["wrong_type", "not_object", "bad_date"]

TERMINAL_KINDS = frozenset({"hang", "http_error", "api_error", "rate_limit", "garbage_body"})


class Fault(BaseModel):
    """One fault specification (also the JSON accepted by ``POST /_sim/faults``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    account: str | None = None
    """Account name or appkey; None matches every request."""
    endpoint: str | None = None
    """Short endpoint name, e.g. ``getserviceasset``; None matches all six."""
    page: int | None = Field(default=None, ge=1)
    """Requested PageIndex; a fault with a page never matches ``getaction``."""
    times: int | None = Field(default=None, ge=1)
    """Apply this many times, then expire; None = until cleared."""
    probability: float | None = Field(default=None, gt=0.0, le=1.0)
    seconds: float = Field(default=0.0, ge=0.0)
    status: int | None = Field(default=None, ge=400, le=599)
    code: int | None = None
    message: str | None = None
    corruption: Corruption = "wrong_type"
    record: int = Field(default=0, ge=0)
    count: int = Field(default=1, ge=1, le=10_000)
    """Rows for ``short_listing`` and ``shift``."""
    total: int | None = Field(default=None, ge=0)
    """The ``Total`` a ``total`` fault reports."""
    fill: bool = False
    """``total``: pad every page to full with made-up rows."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "http_error" and self.status is None:
            raise ValueError("http_error needs a status (e.g. 502)")
        if self.kind == "rate_limit" and self.status not in (None, 429):
            raise ValueError("rate_limit takes no status or status=429")
        if self.kind == "api_error" and self.code == 0:
            raise ValueError("api_error needs a non-zero code")
        if self.kind in ("latency", "drip") and self.seconds <= 0:
            raise ValueError(f"{self.kind} needs seconds > 0")
        if self.kind == "total" and self.total is None:
            raise ValueError("total needs a total (the Total to report)")
        return self

    def matches(self, accounts: Collection[str], endpoint: str, page: int | None) -> bool:
        if self.account is not None and self.account not in accounts:
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return self.page is None or self.page == page


@dataclass(frozen=True)
class ActiveFault:
    """A registered fault with its id and how often it is still to apply."""

    id: int
    fault: Fault
    remaining: int | None
    hits: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remaining": self.remaining,
            "hits": self.hits,
            **self.fault.model_dump(exclude_defaults=True),
        }


class FaultRegistry:
    """Registered faults, safe to use from the server's loop and other threads."""

    def __init__(self, faults: Iterable[Fault] = (), *, seed: int | None = None) -> None:
        # One lock for both: a request's check-and-decrement of ``times`` must be atomic.
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._next_id = 1
        self._entries: dict[int, ActiveFault] = {}
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault | Mapping[str, Any]) -> int:
        """Register a fault (a :class:`Fault` or its JSON form); return its id."""
        parsed = fault if isinstance(fault, Fault) else Fault.model_validate(fault)
        with self._lock:
            fault_id = self._next_id
            self._next_id += 1
            self._entries[fault_id] = ActiveFault(fault_id, parsed, parsed.times, 0)
            return fault_id

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            return self._entries.pop(fault_id, None) is not None

    def clear(self) -> int:
        """Remove every fault; return how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def take(
        self, accounts: Collection[str], endpoint: str, page: int | None
    ) -> builtins.list[Fault]:
        """The faults this request triggers, in registration order; counts them down."""
        taken: builtins.list[Fault] = []
        with self._lock:
            for fault_id, entry in builtins.list(self._entries.items()):
                fault = entry.fault
                if not fault.matches(accounts, endpoint, page):
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                taken.append(fault)
                remaining = None if entry.remaining is None else entry.remaining - 1
                if remaining == 0:
                    del self._entries[fault_id]
                else:
                    self._entries[fault_id] = ActiveFault(
                        fault_id, fault, remaining, entry.hits + 1
                    )
        return taken

    def list(self) -> builtins.list[ActiveFault]:
        with self._lock:
            return builtins.list(self._entries.values())


# --------------------------------------------------------------------------- effects on a page


def bent_page(
    account: SimAccount,
    collection: str,
    predicate: Callable[[Record], bool],
    *,
    index: int,
    size: int,
    faults: Sequence[Fault],
) -> tuple[int, list[Any]]:
    """(Total, rows) of one page, bent by the listing faults (``shift``, ``short_listing``,
    ``total``): the ways an offset-paginated gateway lets a listing fall apart."""
    if any(f.kind == "same_page" for f in faults):
        index = 1
    shift = sum(f.count for f in faults if f.kind == "shift")
    if shift and index > 1:
        # the page starts ``shift`` rows early: read it as two pages' worth and cut
        start = (index - 1) * size - shift
        total, before = account.page(collection, predicate, 1, max(start, 0) + size)
        page: list[Any] = list(before[max(start, 0) :])
    else:
        total, records = account.page(collection, predicate, index, size)
        page = list(records)
    for fault in faults:
        if fault.kind == "short_listing":
            del page[max(len(page) - fault.count, 0) :]
        elif fault.kind == "total" and fault.total is not None:
            total = fault.total
            if fault.fill and page and len(page) < size:
                filler = page[-1]
                page.extend(_made_up(filler, f"{index}-{n}") for n in range(size - len(page)))
    return total, page


def _made_up(template: Any, suffix: str) -> Any:
    """A new row shaped like ``template``, with fresh keys."""
    row = copy.deepcopy(template)
    if isinstance(row, dict):
        for key in ("VirtualmanKey", "TimbreKey", "AnchorCode"):
            if isinstance(row.get(key), str):
                row[key] = f"{row[key]}-fill-{suffix}"
    return row


def _first_int_path(node: Any) -> tuple[Any, Any] | None:
    """(container, key) of the first int (not bool) found depth-first."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return None
    for key, value in items:
        if isinstance(value, int) and not isinstance(value, bool):
            return node, key
        found = _first_int_path(value)
        if found is not None:
            return found
    return None


def corrupt(records: list[Any], fault: Fault) -> None:
    """Break one record of a page in place (docs/ivh-api.md §6: the rest must survive)."""
    if not records:
        return
    i = min(fault.record, len(records) - 1)
    record = records[i]
    if fault.corruption == "not_object" or not isinstance(record, dict):
        records[i] = "corrupted-record"
    elif fault.corruption == "bad_date":
        for key in ("ExpireDate", "ExpireTime"):
            if key in record:
                record[key] = "2024-02-30 25:61:00" if key == "ExpireDate" else "soon"
                break
        else:
            record["ExpireDate"] = "2024-02-30 25:61:00"
    else:
        target = _first_int_path(record)
        if target is not None:
            # Not a numeric string: those the vendor really sends (§6) and clients may coerce.
            target[0][target[1]] = "n/a"
        else:
            first_str = next((k for k, v in record.items() if isinstance(v, str)), None)
            record[first_str or "corrupted"] = 12345
