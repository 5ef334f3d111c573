"""The worst case: the real daemon scraped while it collects, next to a baseline daemon.

    python3 dev.py bench load.py [--fleets 10x334,100x34,10x1667,uneven,file:PATH]
                                 [--interval 20] [--latency 0.02] [--loop-cycles 3]
                                 [--rss-seconds 60] [--base /tmp/perf-base]

Each fleet ``AxN`` is ``generate_fleet(A, N)`` (A accounts with N services, N
voices and N images each: 10x334 and 100x34 are ~10k assets, 10x1667 ~50k) in
a simulator process answering every call after ``--latency`` s. Two fleets are
not ``generate_fleet``'s, served by ``ivh-monitor simulate --dataset``:
``file:PATH`` is any dataset file (the simulator's format, docs/simulator.md;
every account of it is monitored), and ``uneven`` is one written here, apart
from ``generate_fleet``: one account of ~5k assets (many pages of every
listing) beside 60 tiny ones of 0-40, all with long names. The daemon is
``python -m monitor run`` with every family every ``--interval`` s and no
jitter (every job at once), alerts on with no channels, rate limit 50/s and
8 calls at once per account. Once its second cycle has ended:

1. **scraped every 15 s** for ``--rss-seconds`` (Prometheus' default interval):
   RSS sampled every 0.5 s, steady (the median of the samples) and peak (their
   maximum, and ``VmHWM`` since start); the daemon's whole CPU time
   (``/proc/<pid>/stat``, user + system: client, parsing, derivation, alert
   evaluation, scrapes) over the requests the simulator answered meanwhile;
2. **scraped in a loop** for ``--loop-cycles`` collection cycles, one scrape
   after the other, plain and gzipped in turn (``GET /metrics``; plain is the worst
   case, 8.6 MB inflated and sent at 10k assets; Prometheus asks for gzip): p50, p99
   and max of each, and the same for the scrapes that are the first after a
   collection ended (a ``collect.finished`` or ``collect.failed`` line in the
   daemon's log since the scrape before). Meanwhile a second client asks
   ``/healthz`` every 10 ms: it is answered without any rendering on the loop
   that serves HTTP (the collecting loop in trees before the server had a thread
   of its own, the server's since), so its latency is how long that loop was
   held (``loop held p99/max``). The daemon runs under
   ``bench/_loopwatch.py``, which times every event-loop callback of that
   phase (and of that phase only: timing costs CPU, which the CPU figure of
   the phase before must not include) in wall time and in the loop thread's
   CPU time (``thread_time``: not inflated by a busy machine): the callbacks
   that used more than 20 ms of CPU (``loop CPU > 20 ms``), the longest
   (``loop CPU max``), and the top ones by name in the lines printed as it goes.

The baseline is the same measurement of another source tree (``--base``, by
default ``/tmp/perf-base``: ``git worktree add --detach /tmp/perf-base <commit>``),
run in the same invocation against the same simulator, in alternating order
from fleet to fleet so that a noisy machine weighs on both alike. Without that
directory only this tree is measured. The bounds are the issue's targets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import daemon_floor
from _common import (
    ROOT,
    SimulatorProcess,
    cpu_seconds,
    fleet_config,
    memory_kib,
    out,
    table,
    wait_until,
)
from memory import _finished, scraped_rss
from scrape import fetch

from monitor.domain import FAMILIES
from monitor.simulator.loader import load_dataset

_SCRAPE_EVERY = 15.0
_WATCH = Path(__file__).resolve().parent / "_loopwatch.py"
_COMMAND = (sys.executable, "-m", "monitor")


@dataclass
class Run:
    fleet: str
    tree: str
    assets: int
    p50: float
    p99: float
    max: float
    scrapes: int
    first_p50: float
    first_max: float
    firsts: int
    rss_steady: float
    rss_peak: float
    hwm: float
    cpu_per_request: float
    requests: int
    held_p99: float
    held_max: float
    cpu_over_20: int
    cpu_max: float
    top: list[str]
    #: garbage collections of the loop phase: "gen2 N (max M ms)" and so on
    gc: str = ""
    #: the gzipped scrapes of the loop (the fields above without ``gzip_``: the plain ones)
    gzip_p50: float = float("nan")
    gzip_p99: float = float("nan")
    gzip_max: float = float("nan")
    gzip_first_max: float = float("nan")
    gzip_firsts: int = 0

    def cells(self) -> list[object]:
        return [
            self.fleet,
            self.tree,
            self.assets,
            self.scrapes,
            self.p50,
            self.p99,
            self.max,
            self.firsts,
            self.first_p50,
            self.first_max,
            self.gzip_p50,
            self.gzip_p99,
            self.gzip_max,
            self.gzip_first_max,
            self.held_p99,
            self.held_max,
            self.cpu_over_20,
            self.cpu_max,
            self.rss_steady,
            self.rss_peak,
            self.hwm,
            self.requests,
            self.cpu_per_request,
        ]


HEADERS = [
    "fleet",
    "tree",
    "assets",
    "scrapes",
    "p50 ms",
    "p99 ms",
    "max ms",
    "first after collection",
    "first p50 ms",
    "first max ms",
    "gzip p50 ms",
    "gzip p99 ms",
    "gzip max ms",
    "gzip first max ms",
    "loop held p99 ms",
    "loop held max ms",
    "loop CPU > 20 ms",
    "loop CPU max ms",
    "RSS steady MB",
    "RSS peak MB",
    "VmHWM MB",
    "upstream requests",
    "daemon CPU ms/request",
]


def _listening_url(log: Path, timeout: float) -> str:
    """The daemon's URL from its ``server.listening`` log event (this benchmark starts
    daemons of other trees too, so it cannot use the tests' launcher)."""
    found: list[str] = []

    def seen() -> bool:
        for line in log.read_text().splitlines():
            if '"server.listening"' in line:
                found.append(json.loads(line)["url"])
                return True
        return False

    if not wait_until(seen, timeout):
        raise RuntimeError(f"daemon did not start; its log:\n{log.read_text()[-3000:]}")
    return found[0]


def _ready(url: str) -> bool:
    try:
        fetch(url + "/readyz")
    except (urllib.error.URLError, OSError):
        return False
    return True


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _LogTail:
    """Collections ended so far, reading only what the log gained since last time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""
        self.ended = 0

    def poll(self) -> int:
        with self._path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        self._offset += len(data)
        data = self._partial + data
        lines, _, self._partial = data.rpartition(b"\n")
        self.ended += lines.count(b'"collect.finished"') + lines.count(b'"collect.failed"')
        return self.ended


class _Sim(Protocol):
    url: str

    def request_counts(self) -> dict[str, dict[str, int]]: ...


class _FileSimulator:
    """``ivh-monitor simulate --dataset PATH`` (of this tree) on a free loopback port."""

    def __init__(self, path: Path, *, latency: float) -> None:
        self.path = path
        self._latency = latency
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        #: (name, appkey, access_token) of every account in the file
        self.accounts = [
            (a.name, a.appkey, a.access_token)
            for a in load_dataset(path, datetime.now(UTC)).accounts
        ]

    def __enter__(self) -> _FileSimulator:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [
                *_COMMAND,
                *("simulate", "--dataset", str(self.path), "--host", "127.0.0.1"),
                *("--port", str(port), "--latency", str(self._latency)),
            ],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}"
        if not wait_until(self._answers, 120, every=0.2):
            self._proc.kill()
            raise RuntimeError(f"simulator of {self.path} did not start")
        return self

    def _answers(self) -> bool:
        try:
            self.request_counts()
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return True

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def request_counts(self) -> dict[str, dict[str, int]]:
        url = self.url + "/_sim/requests?limit=0"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - http://127.0.0.1
            counts: dict[str, dict[str, int]] = json.loads(response.read())["counts"]
        return counts


#: the uneven fleet: one big account, many tiny ones, long names
_BIG_ASSETS = 5000
_TINY_ACCOUNTS = 60
_HOURS = ("BroadcastHour", "InteractHour", "RealMan3DBroadcastHour", "TimbreHour")
_COUNTS = ("BroadcastConcurrency", "InteractConcurrency")


def _uneven_account(index: int, assets: int) -> dict[str, Any]:
    """One account of the uneven fleet with about ``assets`` assets: services (hour
    packages, concurrency), voices, and anchors with their images, in the vendor's shapes
    (docs/ivh-api.md §4). Deterministic: figures follow the indexes."""
    name = (
        f"tenant-{index:03d}-"
        + "regional-live-commerce-division-with-a-long-name"[: 20 + index % 30]
    )
    services, timbres, anchors, images = [], [], [], []
    for i in range(assets // 3):
        stype = (_HOURS + _COUNTS)[i % 6]
        expire = f"+{24 + 7 * i + index}h" if i % 11 else f"-{1 + i % 5}d"
        if stype in _HOURS:
            bought = 3_600_000 * (10 + i % 90)
            left = bought * ((i * 37) % 100) // 100
            detail = {"OrderMilliseconds": bought, "RemainMilliseconds": left}
            universal = "UniversalHourInfoDetail"
        else:
            detail, universal = {"Concurrency": 1 + i % 12}, "UniversalConcurrencyInfoDetail"
        services.append(
            {
                "ServiceType": stype,
                "ExpireDate": expire,
                universal: detail,
                f"{stype}InfoDetail": detail,
            }
        )
    for i in range(assets // 3):
        timbres.append(
            {
                "TimbreKey": f"{name}-voice-{i:05d}",
                "TimbreName": f"voice {i}",
                "TimbreDesc": "bench",
                "TimbreGender": 1 + i % 2,
                "ExpireDate": "" if i % 4 == 0 else f"+{2 + i % 300}d",
                "AudioDuration": i * 1000,
                "AudioNum": i % 50,
                "PurchaseType": "Lease",
                "TimbreType": "Boutique",
                "SupportDriverTypes": ["Text"],
                "SupportVirtualmanTypeCodes": ["real_man_2d"],
                "EmotionalCategories": [],
                "TimbreLanguages": ["zh-CN"],
                "TimbreSample": f"https://cos.example/{i}.wav",
            }
        )
    per_anchor = 5
    image_count = assets - 2 * (assets // 3)
    for a in range(0, image_count, per_anchor):
        code = f"{name}-anchor-{a // per_anchor:04d}"
        anchors.append(
            {
                "AnchorCode": code,
                "AnchorName": f"anchor {a}",
                "VirtualmanType": "2D",
                "VirtualmanTypeCode": "real_man_2d",
                "PurchaseType": "Custom",
                "Tag": "Basic",
                "Gender": 1,
                "HeaderImage": f"https://cos.example/{code}.png",
            }
        )
        for i in range(a, min(a + per_anchor, image_count)):
            images.append(
                {
                    "VirtualmanKey": f"{index:08x}{i:024x}",
                    "AnchorCode": code,
                    "AnchorName": f"anchor {a}",
                    "VirtualmanType": "2D",
                    "VirtualmanTypeCode": "real_man_2d",
                    "ClothesName": "shirt",
                    "PoseName": "standing",
                    "Resolution": "1080x1920",
                    "BackgroundChangeable": True,
                    "ExpireDate": f"+{1 + i % 500}d",
                    "OriginZoom": "0.750",
                    "PurchaseType": "Custom",
                    "SupportDriverTypes": ["Text"],
                    "SupportRenderTypes": ["cloud"],
                    "SupportAnchorExtraParams": [],
                    "VideoDuration": 60000,
                    "VideoNum": i % 7,
                }
            )
    return {
        "name": name,
        "appkey": f"ak-{name}",
        "access_token": f"at-{name}-secret",
        "services": services,
        "timbres": timbres,
        "anchors": anchors,
        "images": images,
    }


def write_uneven(path: Path) -> Path:
    """The uneven fleet as a dataset file (JSON)."""
    accounts = [_uneven_account(0, _BIG_ASSETS)]
    accounts += [_uneven_account(i, (i * 7) % 41) for i in range(1, _TINY_ACCOUNTS + 1)]
    path.write_text(json.dumps({"accounts": accounts}))
    return path


def _account_config(sim: _Sim, accounts: int | list[tuple[str, str, str]]) -> dict[str, Any]:
    if isinstance(accounts, int):
        return fleet_config(accounts, sim.url)
    return {
        "accounts": [{"name": n, "appkey": k, "access_token": t} for n, k, t in accounts],
        "base_url": sim.url,
    }


def _daemon(
    sim: _Sim, tmp: Path, accounts: int | list[tuple[str, str, str]], interval: float
) -> Path:
    config = {
        **_account_config(sim, accounts),
        "listen": "127.0.0.1:0",
        "state_dir": str(tmp),
        "client": {"rate_limit_per_second": 50, "max_concurrency": 8},
        "schedule": {f"{f}_seconds": interval for f in FAMILIES} | {"jitter_seconds": 0},
    }
    path = tmp / "config.yaml"
    path.write_text(json.dumps(config))
    return path


def measure(
    tree: Path,
    label: str,
    sim: _Sim,
    fleet: str,
    args: argparse.Namespace,
    *,
    accounts: int | list[tuple[str, str, str]],
) -> Run:
    with tempfile.TemporaryDirectory(prefix="ivh-bench-load-") as name:
        tmp = Path(name)
        config = _daemon(sim, tmp, accounts, args.interval)
        log = tmp / "daemon.log"
        watch = tmp / "loop.json"
        with log.open("w") as log_file:
            daemon = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [
                    *(sys.executable, str(_WATCH), str(watch)),
                    *("--config", str(config), "--log-format", "json", "run"),
                ],
                cwd=tree,
                env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            try:
                count = accounts if isinstance(accounts, int) else len(accounts)
                return _observe(
                    daemon.pid, log, label, fleet=fleet, accounts=count, args=args, watch=watch
                )
            finally:
                daemon.terminate()
                daemon.wait(30)


def _observe(
    pid: int,
    log: Path,
    label: str,
    *,
    fleet: str,
    accounts: int,
    args: argparse.Namespace,
    watch: Path,
) -> Run:
    url = _listening_url(log, 120)
    if not wait_until(lambda: _ready(url), 900, every=0.2):
        raise RuntimeError("daemon never became ready")
    jobs = accounts * len(FAMILIES)
    if not wait_until(lambda: _finished(log) >= 2 * jobs, 900, every=0.5):
        raise RuntimeError("the second cycle never ended")
    metrics = fetch(url + "/metrics").decode()
    assets = sum(1 for line in metrics.splitlines() if line.startswith("ivh_asset_info{"))

    # 1. scraped every 15 s: RSS, and the daemon's CPU per upstream request
    counts0 = _requests(args.sim)
    cpu0 = cpu_seconds(pid)
    rss = scraped_rss(url, pid, args.rss_seconds)
    cpu = cpu_seconds(pid) - cpu0
    requests = _requests(args.sim) - counts0

    # 2. scraped in a loop through collection cycles
    tail = _LogTail(log)
    tail.poll()
    seen = tail.ended
    samples: dict[bool, list[float]] = {False: [], True: []}  # by gzipped
    firsts: dict[bool, list[float]] = {False: [], True: []}
    seen_by = {False: seen, True: seen}
    held: list[float] = []
    probing = threading.Event()
    probe = threading.Thread(target=_probe, args=(url, probing, held), daemon=True)
    probe.start()
    os.kill(pid, signal.SIGUSR1)
    started = time.monotonic()
    gzipped = False
    while time.monotonic() - started < args.loop_cycles * args.interval:
        ended = tail.poll()
        t0 = time.perf_counter()
        fetch(url + "/metrics", gzip_ok=gzipped)
        elapsed = (time.perf_counter() - t0) * 1000
        samples[gzipped].append(elapsed)
        if ended > seen_by[gzipped]:
            firsts[gzipped].append(elapsed)
            seen_by[gzipped] = ended
        gzipped = not gzipped
    probing.set()
    os.kill(pid, signal.SIGUSR2)
    if not wait_until(watch.exists, 30):
        raise RuntimeError("the loop watch wrote no report")
    loop = json.loads(watch.read_text())
    probe.join(30)
    hwm = memory_kib(pid)["VmHWM"] / 1024
    return Run(
        fleet=fleet,
        tree=label,
        assets=assets,
        p50=statistics.median(samples[False]),
        p99=_percentile(samples[False], 0.99),
        max=max(samples[False]),
        scrapes=len(samples[False]) + len(samples[True]),
        first_p50=statistics.median(firsts[False]) if firsts[False] else float("nan"),
        first_max=max(firsts[False]) if firsts[False] else float("nan"),
        firsts=len(firsts[False]),
        gzip_p50=statistics.median(samples[True]),
        gzip_p99=_percentile(samples[True], 0.99),
        gzip_max=max(samples[True]),
        gzip_first_max=max(firsts[True]) if firsts[True] else float("nan"),
        gzip_firsts=len(firsts[True]),
        rss_steady=statistics.median(rss),
        rss_peak=max(rss),
        hwm=hwm,
        cpu_per_request=cpu / requests * 1000 if requests else float("nan"),
        requests=requests,
        held_p99=_percentile(held, 0.99) if held else float("nan"),
        held_max=max(held) if held else float("nan"),
        cpu_over_20=loop["cpu_over_ms"]["20"],
        cpu_max=loop["top_cpu"][0]["cpu_ms"] if loop["top_cpu"] else 0.0,
        top=[f"{t['cpu_ms']:.0f} ms{_gc_part(t)} {t['what']}" for t in loop["top_cpu"][:4]],
        gc=_gc_line(loop.get("gc")),
    )


def _gc_part(top: dict[str, Any]) -> str:
    """`` (gc N ms)`` when garbage collection took part of a callback (older trees' watch
    reports have no figure)."""
    collected = top.get("gc_ms") or 0.0
    return f" (gc {collected:.0f} ms)" if collected >= 1 else ""


def _gc_line(gc: dict[str, Any] | None) -> str:
    if not gc:
        return ""
    line = ", ".join(
        f"gen{g} {gc['count'][g]} (max {gc['max_ms'][g]:.0f} ms)" for g in ("0", "1", "2")
    )
    if "tracked" in gc:
        line += f"; {gc['tracked']:,} objects tracked, {gc['frozen']:,} frozen"
        line += " (" + ", ".join(f"{k} {v:,}" for k, v in list(gc["tracked_by_type"].items())[:8])
        line += ")"
        if gc.get("coroutines_by_name"):
            line += "; coroutines: " + ", ".join(
                f"{k} {v:,}" for k, v in gc["coroutines_by_name"].items()
            )
    if gc.get("full"):
        line += "; full collections: " + ", ".join(
            f"{f['ms']:.0f} ms in {f['thread']} ({f['after']:,} left, {f['collected']:,} freed"
            + "".join(f", {n} {c:,}" for n, c in f.get("coroutines", {}).items())
            + ")"
            for f in gc["full"]
        )
    return line


def _probe(url: str, stop: threading.Event, held: list[float]) -> None:
    """``/healthz`` every 10 ms until ``stop``: each answer's latency, in ms."""
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            fetch(url + "/healthz")
        except (urllib.error.URLError, OSError):
            continue
        held.append((time.perf_counter() - t0) * 1000)
        stop.wait(0.01)


def _requests(sim: _Sim) -> int:
    return sum(sum(c.values()) for c in sim.request_counts().values())


def main(args: argparse.Namespace) -> list[Run]:
    base = Path(args.base)
    trees = [(ROOT, "this tree")]
    if (base / "monitor" / "__init__.py").exists() and base.resolve() != ROOT:
        head = subprocess.run(  # noqa: S603 - git, fixed arguments
            ["git", "-C", str(base), "log", "-1", "--format=%h"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        trees.append((base, f"baseline {head or base}"))
    else:
        out(f"  (no baseline tree at {base}: this tree only)")
    out(
        f"load: simulator at {args.latency * 1000:g} ms a call, every family every"
        f" {args.interval:g} s, no jitter; scraped every {_SCRAPE_EVERY:g} s for"
        f" {args.rss_seconds:g} s, then in a loop for {args.loop_cycles} cycles"
    )
    runs: list[Run] = []
    floors: list[daemon_floor.Floor] = []
    for i, fleet in enumerate(args.fleets.split(",")):
        with _simulator(fleet, args.latency) as (sim, accounts):
            args.sim = sim
            order = trees if i % 2 == 0 else list(reversed(trees))
            for tree, label in order:
                run = measure(tree, label, sim, fleet, args, accounts=accounts)
                runs.append(run)
                out(
                    f"  {fleet} {label}: p50/p99/max {run.p50:.0f}/{run.p99:.0f}/{run.max:.0f} ms,"
                    f" first max {run.first_max:.0f} ms;"
                    f" gzip p50/p99/max {run.gzip_p50:.0f}/{run.gzip_p99:.0f}/{run.gzip_max:.0f}"
                    f" ms, first max {run.gzip_first_max:.0f} ms,"
                    f" loop held p99/max {run.held_p99:.0f}/{run.held_max:.0f} ms,"
                    f" RSS {run.rss_steady:.0f}/{run.rss_peak:.0f} MB,"
                    f" {run.cpu_per_request:.2f} ms CPU/request;"
                    f" loop CPU > 20 ms: {run.cpu_over_20}, longest: {'; '.join(run.top)};"
                    f" garbage collections: {run.gc}"
                )
            if isinstance(accounts, int):  # the floor of the CPU per request (daemon_floor.py)
                floors.append(daemon_floor.measure(sim, fleet, accounts))
    out()
    out(table(HEADERS, [r.cells() for r in runs]))
    if floors:
        out()
        out(table(daemon_floor.HEADERS, [f.cells() for f in floors]))
    return runs


@contextlib.contextmanager
def _simulator(
    fleet: str, latency: float
) -> Iterator[tuple[_Sim, int | list[tuple[str, str, str]]]]:
    """The simulator of one ``--fleets`` entry, with the accounts the daemon monitors."""
    if fleet == "uneven" or fleet.startswith("file:"):
        with tempfile.TemporaryDirectory(prefix="ivh-bench-fleet-") as name:
            path = (
                write_uneven(Path(name) / "uneven.json") if fleet == "uneven" else Path(fleet[5:])
            )
            with _FileSimulator(path, latency=latency) as sim:
                yield sim, sim.accounts
        return
    accounts, per = (int(x) for x in fleet.split("x"))
    with SimulatorProcess(accounts, per, latency=latency) as generated:
        yield generated, accounts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--fleets",
        default="10x334,100x34,10x1667",
        help="AxN (generate_fleet), uneven, or file:PATH (a simulator dataset file)",
    )
    p.add_argument("--interval", type=float, default=20.0, help="seconds between collections")
    p.add_argument("--latency", type=float, default=0.02, help="seconds per upstream call")
    p.add_argument("--loop-cycles", type=int, default=3, help="cycles of back-to-back scrapes")
    p.add_argument("--rss-seconds", type=float, default=60.0, help="seconds scraped every 15 s")
    p.add_argument(
        "--base",
        default="/tmp/perf-base",  # noqa: S108 - a path the reader chooses, read only
        help="the baseline source tree (a git worktree)",
    )
    return p


if __name__ == "__main__":
    main(parser().parse_args())
