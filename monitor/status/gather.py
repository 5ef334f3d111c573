"""Reading the daemon's live state into :class:`~monitor.status.view.StatusData`.

The I/O rim of the status page: the snapshot (one reference, immutable), the
engine's forecasts and firing alerts, and the SQLite state store (alert rows,
the outbox, usage history). SQLite belongs to the event loop's thread, so
:class:`StatusReader` is called from request handlers directly, never from
``asyncio.to_thread``; the rendering that follows can go to a thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from monitor import __version__
from monitor.alerts.channels.base import Channel
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.routing import Tenancy, routes_account
from monitor.alerts.store import StateStore
from monitor.config import Account, Settings
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.httpguard import Refusals
from monitor.log import SecretScrubber
from monitor.snapshot import FamilyState, SnapshotStore
from monitor.status.view import (
    AccountStatus,
    AlertItem,
    ChannelItem,
    Delivery,
    HttpHealth,
    ReloadHealth,
    StateHealth,
    StatusData,
    forecast_advice,
)

__all__ = ["StatusReader", "StatusSource"]

#: points of usage history kept per chart (a week of 5-minute polls is ~2,000)
_USAGE_POINTS = 240
#: newest outbox entries searched for each alert's last delivery
_OUTBOX_SCAN = 1000


class StatusSource(Protocol):
    """What the page reads; :class:`monitor.daemon.Daemon` is one."""

    @property
    def store(self) -> SnapshotStore: ...
    @property
    def engine(self) -> AlertEngine: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def accounts(self) -> Sequence[Account]: ...
    @property
    def channels(self) -> Sequence[Channel]: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...


def downsample(
    samples: Sequence[tuple[float, float]], limit: int = _USAGE_POINTS
) -> tuple[tuple[float, float], ...]:
    """At most ``limit`` points, evenly spaced by index, first and last kept."""
    if len(samples) <= limit:
        return tuple(samples)
    step = (len(samples) - 1) / (limit - 1)
    return tuple(samples[round(i * step)] for i in range(limit))


class StatusReader:
    """Reads the daemon for each request; call it on the event loop's thread."""

    def __init__(
        self,
        source: StatusSource,
        *,
        grafana_url: str | None = None,
        http: Refusals | None = None,
    ) -> None:
        self._source = source
        self._grafana_url = grafana_url
        self._http = http
        self._scrubber = SecretScrubber()
        self._scrubbed_for: Settings | None = None
        self._refresh_secrets()
        #: account -> (services' last success it was read for, history by asset)
        self._usage: dict[
            str, tuple[datetime | None, dict[str, tuple[tuple[float, float], ...]]]
        ] = {}

    def _refresh_secrets(self) -> None:
        """The secrets to scrub, read again when a reload brought new settings."""
        source = self._source
        if self._scrubbed_for is source.settings:
            return
        secrets = [a.access_token.get_secret_value() for a in source.accounts]
        for channel in source.settings.effective_alerts().channels:
            secrets.extend(channel.secret_values())
        # a receiver's answer may quote the URL it was sent to
        self._scrubber = SecretScrubber(secrets)
        self._scrubbed_for = source.settings

    def names(self) -> set[str]:
        """The accounts watched now (a reload changes them)."""
        return {a.name for a in self._source.accounts}

    def labels(self) -> dict[str, dict[str, str]]:
        return {a.name: dict(a.labels) for a in self._source.accounts}

    def now(self) -> datetime:
        return self._source.clock()

    def alerts(self, account: str | None = None) -> list[AlertItem]:
        """Firing and recently resolved alerts, each with its newest delivery."""
        self._refresh_secrets()
        deliveries: dict[str, Delivery] = {}
        for entry in self._source.state.outbox(limit=_OUTBOX_SCAN):  # newest first
            delivery = Delivery(
                channel=entry.channel,
                state=entry.state,
                at=entry.finished_at or entry.created_at,
                attempts=entry.attempts,
                error=self._scrubber.scrub(entry.last_error) if entry.last_error else None,
            )
            for alert in entry.notification.alerts:
                deliveries.setdefault(alert.fingerprint, delivery)
        return [
            AlertItem(
                alert=row.alert,
                started_at=row.started_at,
                last_notified_at=row.last_notified_at,
                resolved_at=row.resolved_at,
                delivery=deliveries.get(row.fingerprint),
            )
            for row in self._source.state.alerts(account)
        ]

    def _usage_of(self, account: str, now: datetime) -> dict[str, tuple[tuple[float, float], ...]]:
        # usage is written right after each services collection, in the same
        # synchronous step as the snapshot swap: its last success keys the cache
        state = self._source.store.current.families.get((account, "services"))
        stamp = state.last_success if state is not None else None
        cached = self._usage.get(account)
        if cached is not None and cached[0] == stamp and stamp is not None:
            return cached[1]
        window = self._source.engine.config.rules.hours_depleting.window_days
        history = self._source.state.usage(account, now - timedelta(days=window))
        usage = {asset: downsample(points) for asset, points in history.items()}
        self._usage[account] = (stamp, usage)
        return usage

    def _usage_or_none(
        self, account: str, now: datetime
    ) -> dict[str, tuple[tuple[float, float], ...]]:
        try:
            return self._usage_of(account, now)
        except sqlite3.Error:
            return {}

    def _state_health(self) -> StateHealth:
        state = self._source.state
        loss = state.last_loss
        return StateHealth(
            up=state.healthy,
            error=self._scrubber.scrub(state.last_error) if state.last_error else None,
            losses=state.losses,
            lost_at=loss.at if loss else None,
            lost_file=loss.file if loss else None,
            salvaged=loss.salvaged if loss else False,
            notifications_lost=state.lost_notifications,
        )

    def _http_health(self) -> HttpHealth:
        http = self._http
        if http is None:
            return HttpHealth()
        return HttpHealth(
            refused={reason: n for reason, n in http.counts.items() if n},
            last_refused_at=http.last_at,
            auth_failures=http.auth_failures,
        )

    def _reload_health(self) -> ReloadHealth:
        status = getattr(self._source, "reload_status", None)
        if status is None:
            return ReloadHealth()
        return ReloadHealth(
            ok=status.ok,
            success_at=status.success_at,
            attempted_at=status.attempted_at,
            errors=tuple(self._scrubber.scrub(e) for e in status.errors),
        )

    def _channel_items(self) -> tuple[ChannelItem, ...]:
        src = self._source
        configs = {c.name: c for c in src.settings.effective_alerts().channels}
        items = []
        for channel in src.channels:
            cfg = configs.get(channel.name)
            if cfg is None:
                items.append(ChannelItem(channel.name, channel.kind, channel.masked_url()))
                continue
            reached = tuple(
                a.name
                for a in src.accounts
                if routes_account(cfg, a.name, Tenancy(a.labels, a.language, a.message_zone))
            )
            digest = None
            if cfg.digest is not None:
                # as the daemon picks it: the digest's, the channel's own, the zone its
                # (routed) accounts share, the channel's default
                zones = {
                    str(a.message_zone) if a.message_zone else None
                    for a in src.accounts
                    if a.name in reached
                }
                zone = cfg.digest.timezone or (
                    cfg.timezone
                    if "timezone" in cfg.model_fields_set
                    or not cfg.routed
                    or len(zones) != 1
                    or None in zones
                    else str(zones.pop())
                )
                digest = f"{cfg.digest.at} {zone}"
            items.append(
                ChannelItem(
                    channel.name,
                    channel.kind,
                    channel.masked_url(),
                    route="routed" if cfg.routed else "default",
                    accounts=reached,
                    digest=digest,
                )
            )
        return tuple(items)

    def read(
        self,
        usage_for: Collection[str] | None = None,
        *,
        only: Callable[[Account], bool] | None = None,
    ) -> StatusData:
        """The page's data; hour-package history only of ``usage_for`` (None: all), and
        only the accounts ``only`` keeps (None: all)."""
        self._refresh_secrets()
        src = self._source
        now = src.clock()
        snapshot = src.store.current
        # grouped in one pass each: a fleet is many accounts times many assets
        assets: dict[str, list[Asset]] = defaultdict(list)
        for asset in snapshot.assets(now):
            assets[asset.account].append(asset)
        states: dict[str, list[FamilyState]] = defaultdict(list)
        for state in snapshot.states():
            states[state.account].append(state)
        forecasts: dict[str, dict[str, Forecast]] = defaultdict(dict)
        for (name, asset_id), forecast in src.engine.forecasts.items():
            forecasts[name][asset_id] = forecast
        alerts: dict[str, list[AlertItem]] = defaultdict(list)
        # a state store that is down shows as such (state below), not as a broken page
        with contextlib.suppress(sqlite3.Error):
            for item in self.alerts():
                alerts[item.alert.account].append(item)
        accounts = []
        language = src.settings.alerts.language
        ratio = src.settings.alerts.rules.unused_at_expiry.ratio
        for account in src.accounts:
            if only is not None and not only(account):
                continue
            name = account.name
            mine = forecasts.get(name, {})
            advice = {
                a.id: said
                for a in assets.get(name, ())
                if (fc := mine.get(a.id)) is not None
                and (
                    said := forecast_advice(
                        a, fc, language, account.zone, now=now, unused_ratio=ratio
                    )
                )
            }
            accounts.append(
                AccountStatus(
                    name=name,
                    zone=account.zone,
                    assets=tuple(assets.get(name, ())),
                    families=tuple(states.get(name, ())),
                    forecasts=forecasts.get(name, {}),
                    usage=(
                        self._usage_or_none(name, now)
                        if usage_for is None or name in usage_for
                        else {}
                    ),
                    alerts=tuple(alerts.get(name, ())),
                    labels=dict(account.labels),
                    tenant=account.tenant,
                    advice=advice,
                )
            )
        return StatusData(
            now=now,
            language=src.settings.alerts.language,
            critical_days=src.settings.critical_days,
            warning_days=src.settings.warning_days,
            stale_after_seconds=src.settings.stale_after_seconds,
            accounts=tuple(accounts),
            channels=self._channel_items(),
            queue_depth=src.dispatcher.queue_depth,
            state=self._state_health(),
            version=__version__,
            grafana_url=self._grafana_url,
            evaluation_errors={k: n for k, n in src.engine.evaluation_errors.items() if n},
            last_evaluation_error_at=src.engine.last_evaluation_error_at,
            http=self._http_health(),
            disabled_families=snapshot.disabled,
            reload=self._reload_health(),
        )
