"""The immutable snapshot that scrapes (and later alerts) read.

Each job hands its :class:`~monitor.domain.FamilyResult` to
:meth:`SnapshotStore.apply`, which builds a new :class:`Snapshot` and swaps it
in with one assignment: a reader takes ``store.current`` once and sees one
consistent state, never a half-updated mix.

A family whose collection fails keeps its last good data, marked stale, until
it is older than ``stale_after`` (and at least two of its intervals); then it
is dropped rather than shown as current. Absent data is absent: never zero,
never "expired".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from types import MappingProxyType
from typing import Any, TypeVar

from monitor.domain import FAMILIES, Anchor, Asset, Family, FamilyResult

__all__ = ["FamilyState", "Snapshot", "SnapshotStore"]


@dataclass(frozen=True, slots=True)
class FamilyState:
    account: str
    family: Family
    interval_seconds: float
    assets: tuple[Asset, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    actions: Mapping[str, int] = field(default_factory=dict)
    #: end of the last successful collection; ``None`` before the first
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    #: whether the last attempt succeeded
    success: bool = False
    duration_seconds: float = 0.0
    skipped_records: int = 0
    #: anomalies of the kept records by reason (:data:`monitor.domain.ANOMALY_REASONS`)
    anomalies: Mapping[str, int] = field(default_factory=dict)
    #: kind of the last error (transport, deadline, http_status, api, auth, parse,
    #: incomplete, internal)
    error: str | None = None
    #: what the last error said (account, endpoint, message, RequestID; never a secret)
    error_detail: str | None = None
    #: the data shown is what arrived of an incomplete listing (no complete one yet)
    partial: bool = False
    #: when that incomplete data arrived
    last_partial: datetime | None = None
    #: scheduled runs skipped (the previous one still going, or missed) since start
    runs_skipped: int = 0

    @property
    def attempted(self) -> bool:
        return self.last_attempt is not None

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.last_success is None else (now - self.last_success).total_seconds()

    @property
    def data(self) -> str:
        """What the data shown is: ``current`` (the last collection succeeded),
        ``partial`` (what arrived of an incomplete listing) or ``stale`` (kept from an
        earlier success)."""
        if self.success:
            return "current"
        return "partial" if self.partial else "stale"

    def stale(self) -> bool:
        """Data is kept from an earlier success while the latest attempt failed."""
        return self.last_success is not None and not self.success

    def usable(self, now: datetime, stale_after: float) -> bool:
        """Whether this family's data may still be shown."""
        keep = max(stale_after, 2 * self.interval_seconds)
        if self.partial and self.last_partial is not None:
            return (now - self.last_partial).total_seconds() <= keep
        age = self.age_seconds(now)
        if age is None:
            return False
        return self.success or age <= keep


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything known at one moment; never mutated."""

    families: Mapping[tuple[str, Family], FamilyState]
    accounts: tuple[str, ...]
    stale_after: float
    #: families turned off (``collectors``): never collected, not waited for, not failing
    disabled: tuple[Family, ...] = ()
    #: images with their actions attached, by account: (images state, actions state,
    #: the images), made once per pair of states and shared by the snapshots of one
    #: store (an entry whose states are no longer the current ones is remade, keeping
    #: the copies of the old entry that are the same)
    _merged: dict[str, tuple[FamilyState, FamilyState, tuple[Asset, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def states(self) -> Iterable[FamilyState]:
        return self.families.values()

    def assets(self, now: datetime) -> list[Asset]:
        """Assets of every family whose data is usable at ``now``, actions attached."""
        return [
            asset
            for account in self.accounts
            for family in ("services", "timbres", "images")
            for asset in self.family_assets(account, family, now)
        ]

    def usable(self, account: str, family: Family, now: datetime) -> FamilyState | None:
        state = self.families.get((account, family))
        if state is None or not state.usable(now, self.stale_after):
            return None
        return state

    def family_assets(self, account: str, family: Family, now: datetime) -> list[Asset]:
        """One family's usable assets (images with the actions of 3D ones attached)."""
        state = self.usable(account, family, now)
        if state is None:
            return []
        actions_state = self.usable(account, "actions", now) if family == "images" else None
        if actions_state is None or not actions_state.actions:
            return list(state.assets)
        merged = self._merged.get(account)
        if merged is None or merged[0] is not state or merged[1] is not actions_state:
            actions = actions_state.actions
            images = tuple(
                a.replaced(actions=actions[a.id]) if a.id in actions else a for a in state.assets
            )
            if merged is not None:  # the copies of the last merge where they are the same
                images = _kept(merged[2], images, _asset_key)
            merged = (state, actions_state, images)
            self._merged[account] = merged
        return list(merged[2])

    def anchors(self, now: datetime) -> list[Anchor]:
        return [
            anchor
            for account in self.accounts
            if (state := self.families.get((account, "images"))) is not None
            and state.usable(now, self.stale_after)
            for anchor in state.anchors
        ]

    def ready(self) -> bool:
        """Every family of every account has finished its first attempt."""
        return all(state.attempted for state in self.families.values())


class SnapshotStore:
    """Holds the current snapshot; the only writer is :meth:`apply`.

    Jobs run on one event loop, so applies never interleave; readers on other
    threads (a scrape rendered off-loop) just read ``current``, one reference.
    """

    def __init__(
        self,
        accounts: Iterable[str],
        intervals: Mapping[Family, float],
        stale_after: float,
        *,
        enabled: Iterable[Family] = FAMILIES,
    ) -> None:
        names = tuple(accounts)
        on = tuple(enabled)
        families = {
            (account, family): FamilyState(account, family, intervals[family])
            for account in names
            for family in FAMILIES
            if family in on
        }
        disabled = tuple(f for f in FAMILIES if f not in on)
        self.current = Snapshot(MappingProxyType(families), names, stale_after, disabled)

    def _swap(self, families: dict[tuple[str, Family], FamilyState]) -> None:
        snap = self.current
        self.current = Snapshot(
            MappingProxyType(families), snap.accounts, snap.stale_after, snap.disabled, snap._merged
        )

    def reconfigure(
        self, accounts: Iterable[str], intervals: Mapping[Family, float], stale_after: float
    ) -> None:
        """A reloaded account list: kept accounts keep their data (with the new
        interval), new ones start unattempted, removed ones are dropped; one swap."""
        names = tuple(accounts)
        snap = self.current
        old = snap.families
        families = {
            (account, family): replace(old[(account, family)], interval_seconds=intervals[family])
            if (account, family) in old
            else FamilyState(account, family, intervals[family])
            for account in names
            for family in FAMILIES
            if family not in snap.disabled  # a family turned off stays off
        }
        merged = {a: m for a, m in snap._merged.items() if a in names}
        self.current = Snapshot(
            MappingProxyType(families), names, stale_after, snap.disabled, merged
        )

    def skipped(self, account: str, family: Family) -> None:
        """Count a scheduled run of the family that did not happen."""
        snap = self.current
        key = (account, family)
        families = dict(snap.families)
        families[key] = replace(families[key], runs_skipped=families[key].runs_skipped + 1)
        self._swap(families)

    def apply(self, result: FamilyResult, at: datetime) -> FamilyState:
        snap = self.current
        key = (result.account, result.family)
        previous = snap.families[key]
        if result.ok:
            state = replace(
                previous,
                **_data(result, previous),
                last_success=at,
                last_attempt=at,
                success=True,
                error=None,
                error_detail=None,
                partial=False,
                last_partial=None,
            )
        elif result.partial and previous.last_success is None:
            # no complete listing yet: show what arrived, flagged; an incomplete listing
            # never replaces a complete one (that stays, and goes stale as usual)
            state = replace(
                previous,
                **_data(result, previous),
                last_attempt=at,
                success=False,
                error="incomplete",
                error_detail=_detail(result),
                partial=True,
                last_partial=at,
            )
        else:
            # keep the last good data; only the health fields change
            state = replace(
                previous,
                last_attempt=at,
                success=False,
                duration_seconds=result.duration_seconds,
                error=result.error.kind if result.error is not None else "error",
                error_detail=_detail(result),
            )
        families = dict(snap.families)
        families[key] = state
        self._swap(families)
        return state


def _data(result: FamilyResult, previous: FamilyState) -> dict[str, Any]:
    """The fields a collection's data sets: a success's, or what arrived of an
    incomplete listing."""
    return {
        "assets": _kept(previous.assets, result.assets, _asset_key),
        "anchors": _kept(previous.anchors, result.anchors, _anchor_key),
        "actions": MappingProxyType(dict(result.actions)),
        "duration_seconds": result.duration_seconds,
        "skipped_records": len(result.problems),
        "anomalies": MappingProxyType(
            dict(Counter(anomaly.reason for _, anomaly in result.anomalies))
        ),
    }


def _detail(result: FamilyResult) -> str | None:
    errors = result.incomplete or ((result.error,) if result.error is not None else ())
    return "; ".join(str(e) for e in errors)[:1000] or None


R = TypeVar("R", Asset, Anchor)

#: the key of a record in its family (a family holds one kind of asset)
_asset_key: Callable[[Asset], str] = attrgetter("id")
_anchor_key: Callable[[Anchor], str] = attrgetter("code")


def _kept(old: tuple[R, ...], new: tuple[R, ...], key: Callable[[R], str]) -> tuple[R, ...]:
    """``new``, with each record the same as one of ``old`` (by key, then by value)
    replaced by that old object, and ``old`` itself when nothing changed.

    Most of a collection is what the last one found: keeping the old objects lets the
    new ones go with the cycle's temporaries (the pages, the records) instead of
    holding a second copy of the family until every reader of the old state (a
    scrape's cache, the alerts) moves on, and leaves the long-lived objects where they
    were in the heap. The same means equal in every field and, for dates, in zone too
    (equal instants in two zones are shown apart)."""
    if not old or not new:
        return new
    by_key = {key(r): r for r in old}
    kept: list[R] = []
    unchanged = len(old) == len(new)
    for i, record in enumerate(new):
        found = by_key.get(key(record))
        keep = found if found is not None and _same(found, record) else record
        unchanged = unchanged and keep is old[i]
        kept.append(keep)
    return old if unchanged else tuple(kept)


def _same(old: Asset | Anchor, new: Asset | Anchor) -> bool:
    if old != new:
        return False
    if isinstance(old, Anchor) or isinstance(new, Anchor):
        return True
    return _zone(old.expires_at) is _zone(new.expires_at) and _zone(old.starts_at) is _zone(
        new.starts_at
    )


def _zone(moment: datetime | None) -> object:
    return None if moment is None else moment.tzinfo
