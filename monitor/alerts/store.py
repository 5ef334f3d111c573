"""The state store: alert states, the notification outbox and usage history (SQLite).

One file in the state dir, WAL mode. Every cycle's state changes and the
notifications they cause are written in one transaction, so a restart (even
``kill -9``) sees either both or neither: a pending notification is never
lost, and one already delivered is never repeated inside its repeat interval.
A notification leaves the outbox only when its receiver accepted it.

Parts
-----
:class:`StateStore` is composed of one part per job, all over one connection:

- :mod:`monitor.alerts.store_core`: the connection, its transactions, the
  store's health and a lost file (salvage, re-seed, losses counted);
- :mod:`monitor.alerts.store_alerts`: the alert rows;
- :mod:`monitor.alerts.store_outbox`: the notification outbox;
- :mod:`monitor.alerts.store_usage`: the usage history;
- :mod:`monitor.alerts.store_codec`: how an alert and a notification are written;
- :mod:`monitor.alerts.store_schema`: the tables and their migrations.

Callers import everything from here.

Schema
------
The tables and their migrations live in :mod:`monitor.alerts.store_schema`
(``PRAGMA user_version``); opening a file brings it up to date in one
transaction, and a file from a newer release makes the store unavailable.

Losing the file
---------------
A state file (or its ``-wal``/``-shm``) deleted or replaced while the daemon
runs is found before the next operation, salvaged and recreated, and no firing
alert is announced again (:mod:`monitor.alerts.store_core` tells how).
"""

from __future__ import annotations

from monitor.alerts.store_alerts import AlertRow, AlertRows
from monitor.alerts.store_codec import alert_to_json, notification_from_json, notification_to_json
from monitor.alerts.store_core import Loss, StateUnavailableError
from monitor.alerts.store_outbox import Outbox, OutboxEntry
from monitor.alerts.store_usage import UsageHistory

__all__ = [
    "AlertRow",
    "Loss",
    "OutboxEntry",
    "StateStore",
    "StateUnavailableError",
    "alert_to_json",
    "notification_from_json",
    "notification_to_json",
]


class StateStore(AlertRows, Outbox, UsageHistory):
    """SQLite state; shared by the event loop's thread and the alert engine's worker
    (every operation holds the core's lock).

    It never takes the daemon down: if the state dir is unwritable the store is
    unavailable (every call raises :class:`StateUnavailableError`) and it tries
    to open again at most every ``retry_seconds``; a full disk (or
    ``max_bytes`` reached) fails the one transaction, which rolls back, so the
    caller simply tries again next cycle. Health and a lost file are the core's
    (:class:`monitor.alerts.store_core.StoreCore`); the alert rows, the outbox
    and the usage history are its mixins, sharing its one connection.
    """
