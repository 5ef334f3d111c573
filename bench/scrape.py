"""Scrape cost: ``/metrics`` latency and size at 1k, 10k and 50k assets.

    python3 dev.py bench scrape.py [--assets 1000,10000,50000]

The snapshot is filled with synthetic assets (10 accounts; a third each
services, voices and images, a third of the images 3D with actions, one anchor
per five images) through ``SnapshotStore.apply``, as the jobs fill it. Three
measurements per size, p50 and p95 over repeated runs:

- ``collector``: ``generate_latest`` of an ``AssetCollector`` on a fresh registry;
- ``registry``: ``generate_latest`` of the daemon's whole registry (asset and
  alert collectors, the daemon's own counters), built by ``Daemon`` itself;
- ``http``: ``GET /metrics`` from ``monitor.server.create_app`` over loopback
  (server on its own event-loop thread), plain and with ``Accept-Encoding: gzip``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import out, quantiles, table
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from pydantic import SecretStr

from monitor.config import ScheduleConfig, load_settings
from monitor.daemon import Daemon
from monitor.domain import FAMILIES, Anchor, Asset, FamilyResult
from monitor.exposition import AssetCollector
from monitor.log import configure_logging
from monitor.server import Serving, create_app, start_server
from monitor.snapshot import SnapshotStore

ACCOUNTS = 10
NOW = datetime.now(UTC).replace(microsecond=0)
_SERVICE_TYPES = (
    ("BroadcastHour", "hours"),
    ("HalfRealistic3DBroadcastHour", "hours"),
    ("InteractiveConcurrency", "concurrency"),
    ("VoiceCustomQuota", "quota"),
)
_IMAGE_TYPES = ("real_man_2d", "real_man_3d", "small_sample_2d")


def _family_results(account: str, count: int) -> list[FamilyResult]:
    """About ``count`` assets of one account, split over the three families."""
    third = count // 3
    services: list[Asset] = []
    for i in range(count - 2 * third):
        service_type, category = _SERVICE_TYPES[i % len(_SERVICE_TYPES)]
        expires = NOW + timedelta(days=i % 400 - 30, hours=i % 24)
        common = {
            "account": account,
            "kind": "service",
            "id": f"{service_type}-{expires:%Y%m%d%H%M%S}-{i:05d}",
            "type": service_type,
            "name": f"{service_type} 套餐 {i}",
            "expires_at": expires,
            "category": category,
            "purchase_type": "Prepaid",
        }
        if category == "hours":
            services.append(Asset(**common, ordered_seconds=360000.0, remaining_seconds=1.0 * i))
        elif category == "quota":
            services.append(Asset(**common, quota_limit=50, quota_remaining=i % 50))
        else:
            services.append(Asset(**common, concurrency=1 + i % 20))
    timbres = [
        Asset(
            account,
            "timbre",
            f"{account}-voice-{i:05d}",
            "1",
            f"声音{i}",
            NOW + timedelta(days=i % 400) if i % 3 else None,
            audio_seconds=float(i * 37),
            audio_requests=i,
        )
        for i in range(third)
    ]
    images: list[Asset] = []
    anchors: list[Anchor] = []
    actions: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    for i in range(third):
        code = _IMAGE_TYPES[(i // 5) % len(_IMAGE_TYPES)]
        key = f"{hash((account, i)) & (2**128 - 1):032x}"
        anchor = f"{account}-anchor-{i // 5:04d}"
        images.append(
            Asset(
                account,
                "image",
                key,
                code,
                f"主播{i // 5} 服装 站姿",
                NOW + timedelta(days=i % 400 - 30),
                purchase_type="Lease",
                video_seconds=float(i * 11),
                videos=i % 1000,
                anchor=anchor,
            )
        )
        members.setdefault(anchor, []).append(key)
        if code.endswith("_3d"):
            actions[key] = 12
        if i % 5 == 0:
            anchors.append(Anchor(account, anchor, f"主播{i // 5}", code, "Lease"))
    grouped = tuple(
        Anchor(a.account, a.code, a.name, a.type, a.purchase_type, tuple(members[a.code]))
        for a in anchors
    )
    return [
        FamilyResult(account, "services", assets=tuple(services)),
        FamilyResult(account, "timbres", assets=tuple(timbres)),
        FamilyResult(account, "images", assets=tuple(images), anchors=grouped),
        FamilyResult(account, "actions", actions=actions),
    ]


def fill(store: SnapshotStore, assets: int) -> int:
    """Apply synthetic results for every account; return the number of assets."""
    for a in range(ACCOUNTS):
        for result in _family_results(f"acct-{a:02d}", assets // ACCOUNTS):
            store.apply(result, NOW)
    return len(store.current.assets(NOW))


def _timed(render: Callable[[], bytes], repeat: int) -> tuple[float, float, bytes]:
    render()  # warm-up
    samples: list[float] = []
    body = b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        body = render()
        samples.append(time.perf_counter() - t0)
    p50, p95 = quantiles(samples)
    return p50, p95, body


@contextmanager
def _served(daemon: Daemon) -> Iterator[str]:
    """``create_app`` of the daemon on a loopback port, on its own event-loop thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        app = create_app(daemon.registry, daemon.store, alive=lambda: True)
        runner, port = await start_server(app, "127.0.0.1", 0)
        holder["runner"], holder["url"] = runner, f"http://127.0.0.1:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    ready.wait(30)
    try:
        yield str(holder["url"])
    finally:
        runner = holder["runner"]
        assert isinstance(runner, Serving)  # noqa: S101 - set in start()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def fetch(url: str, *, gzip_ok: bool = False) -> bytes:
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def _daemon(state_dir: str) -> Daemon:
    settings = load_settings(
        None,
        accounts=[
            {
                "name": f"acct-{a:02d}",
                "appkey": f"ak-{a:02d}",
                "access_token": SecretStr(f"at-{a:02d}"),
                "base_url": "http://127.0.0.1:9",
            }
            for a in range(ACCOUNTS)
        ],
        state_dir=state_dir,
    )
    return Daemon(settings, settings.resolved_accounts(), clock=lambda: NOW)


def measure(assets: int, repeat: int) -> list[list[object]]:
    rows: list[list[object]] = []
    schedule = ScheduleConfig()
    store = SnapshotStore(
        [f"acct-{a:02d}" for a in range(ACCOUNTS)],
        {f: schedule.interval(f) for f in FAMILIES},
        3600,
    )
    n = fill(store, assets)
    registry = CollectorRegistry()
    registry.register(AssetCollector(store, schedule, clock=lambda: NOW))
    p50, p95, body = _timed(lambda: generate_latest(registry), repeat)
    rows.append([n, "collector", p50 * 1000, p95 * 1000, len(body), len(gzip.compress(body, 6))])

    with tempfile.TemporaryDirectory(prefix="ivh-bench-") as state:
        daemon = _daemon(str(Path(state)))
        fill(daemon.store, assets)
        p50, p95, body = _timed(lambda: generate_latest(daemon.registry), repeat)
        rows.append([n, "registry", p50 * 1000, p95 * 1000, len(body), len(gzip.compress(body, 6))])
        with _served(daemon) as url:
            p50, p95, body = _timed(lambda: fetch(url + "/metrics"), repeat)
            zp50, zp95, zbody = _timed(lambda: fetch(url + "/metrics", gzip_ok=True), repeat)
        rows.append([n, "http", p50 * 1000, p95 * 1000, len(body), "-"])
        rows.append([n, "http gzip", zp50 * 1000, zp95 * 1000, "-", len(zbody)])
        daemon.state.close()
    return rows


HEADERS = ["assets", "what", "p50 ms", "p95 ms", "bytes", "gzip bytes"]


def main(args: argparse.Namespace) -> list[list[object]]:
    # as the CLI does: the daemon's counters carry no *_created series
    disable_created_metrics()  # type: ignore[no-untyped-call]
    rows: list[list[object]] = []
    for assets in args.assets:
        repeat = max(5, min(50, 200_000 // assets))
        rows.extend(measure(assets, repeat))
        out(f"  {assets} assets: {rows[-4][2]:.1f} ms p50 (collector)")
    out()
    out(table(HEADERS, rows))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--assets",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 10_000, 50_000],
        help="comma-separated asset counts (default 1000,10000,50000)",
    )
    return p


if __name__ == "__main__":
    arguments = parser().parse_args()
    configure_logging("critical", "json")
    main(arguments)
