"""The usage history of the state store: remaining amounts over time, per asset.

:class:`UsageHistory` records one sample per asset and collection, reads an
account's samples since a time (the burn forecasts) and prunes old ones. A
mixin over :class:`~monitor.alerts.store_core.StoreCore`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from monitor.alerts.store_codec import to_timestamp
from monitor.alerts.store_core import StoreCore

__all__ = ["UsageHistory"]


class UsageHistory(StoreCore):
    """The ``usage`` table."""

    def record_usage(
        self, account: str, samples: Iterable[tuple[str, float]], at: datetime
    ) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO usage (account, asset, at, remaining) VALUES (?,?,?,?)",
                [(account, asset, to_timestamp(at), remaining) for asset, remaining in samples],
            )

    def usage(self, account: str, since: datetime) -> dict[str, list[tuple[float, float]]]:
        rows = self._read(
            "SELECT asset, at, remaining FROM usage WHERE account = ? AND at >= ? ORDER BY at",
            (account, to_timestamp(since)),
        )
        out: dict[str, list[tuple[float, float]]] = {}
        for asset, at, remaining in rows:
            out.setdefault(asset, []).append((at, remaining))
        return out

    def prune_usage(self, before: datetime) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM usage WHERE at < ?", (to_timestamp(before),)).rowcount
