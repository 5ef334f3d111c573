"""Real processes: the daemon and the CLI, and waiting on things over HTTP.

The one place that knows how to launch ``ivh-monitor run``: the tests use
:func:`start_daemon` (asyncio), the benchmarks (``bench/memory.py``) use
:func:`running_daemon` (blocking); both launch what :func:`prepare_daemon` sets up.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

#: the checkout: processes run from here, so ``-m monitor`` is this tree's
ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:
    from monitor.daemon import Daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IVH_MONITOR_")}


def require_tool(name: str) -> str:
    """The path of a real tool; CI must have it, elsewhere the test is skipped."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs it)")
        pytest.skip(f"{name} not installed")
    return path


def value(samples: Samples, name: str, **labels: str) -> float | None:
    for (n, lbls), v in samples.items():
        if n == name and all((k, val) in lbls for k, val in labels.items()):
            return v
    return None


async def eventually(check: Callable[[], Awaitable[bool]], what: str, tries: int = 300) -> None:
    """Poll until ``check`` holds (state changes in another process take a moment)."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@dataclass
class DaemonProcess:
    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    async def metrics(self) -> Samples:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{self.url}/metrics")).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    def log_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text("utf-8").splitlines()]

    def events(self, name: str, **fields: object) -> list[dict[str, Any]]:
        """The log events called ``name`` (with these fields, if given), oldest first."""
        return [
            e
            for e in self.log_events()
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        ]

    async def metrics_until(
        self, predicate: Callable[[Samples], bool], what: str = "the expected metrics"
    ) -> Samples:
        """Poll /metrics until ``predicate`` holds; the samples that satisfied it."""
        latest: Samples = {}

        async def check() -> bool:
            nonlocal latest
            latest = await self.metrics()
            return predicate(latest)

        await eventually(check, what)
        return latest

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            return await asyncio.wait_for(self.process.wait(), 10)
        return self.process.returncode


def monitor_command(*args: str) -> list[str]:
    """``python -m monitor ARGS`` with this interpreter."""
    return [sys.executable, "-m", "monitor", *args]


@dataclass(frozen=True)
class DaemonLaunch:
    """A daemon ready to be started: its command line, where it listens and logs."""

    argv: list[str]
    url: str
    log_path: Path


def prepare_daemon(
    config: dict[str, Any],
    directory: Path,
    name: str = "daemon",
    *,
    https: bool = False,
    log_level: str = "debug",
) -> DaemonLaunch:
    """Write ``config`` (plus a free loopback port and the log level, unless it sets
    them) as ``<name>.yaml`` in ``directory``; the daemon logs JSON to ``<name>.log``."""
    port = free_port()
    config = {"listen": f"127.0.0.1:{port}", "log_level": log_level, **config}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    return DaemonLaunch(
        argv=monitor_command("--config", str(path), "--log-format", "json", "run"),
        url=f"{'https' if https else 'http'}://127.0.0.1:{port}",
        log_path=directory / f"{name}.log",
    )


async def start_daemon(
    config: dict[str, Any],
    tmp_path: Path,
    name: str = "daemon",
    *,
    ca_file: str | None = None,
    run_args: Sequence[str] = (),
) -> DaemonProcess:
    """``ivh-monitor run`` (with ``run_args``) with this config; returns once /readyz
    answers 200.

    With ``ca_file`` the daemon serves HTTPS (a web config) and is checked with that CA.
    """
    launch = prepare_daemon(config, tmp_path, name, https=ca_file is not None)
    log_path = launch.log_path
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            *launch.argv, *run_args, stdout=log_file, stderr=log_file, env=clean_env(), cwd=ROOT
        )
    url = launch.url
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    async with httpx.AsyncClient(verify=verify) as http:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(log_path.read_text("utf-8"))
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return DaemonProcess(url, process, log_path)
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("daemon never became ready:\n" + log_path.read_text("utf-8"))


@dataclass(frozen=True)
class RunningDaemon:
    """A daemon started by :func:`running_daemon`, ready."""

    url: str
    pid: int
    log_path: Path
    #: from launch to the first 200 of /readyz (the benchmarks report it)
    ready_seconds: float


@contextmanager
def running_daemon(
    config: dict[str, Any],
    directory: Path,
    name: str = "daemon",
    *,
    log_level: str = "info",
    ready_timeout: float = 600.0,
) -> Iterator[RunningDaemon]:
    """``ivh-monitor run`` with this config, blocking until /readyz answers 200 (at most
    ``ready_timeout`` seconds); terminated, and waited for, on leaving."""
    launch = prepare_daemon(config, directory, name, log_level=log_level)
    with launch.log_path.open("ab") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            launch.argv, stdout=log_file, stderr=log_file, env=clean_env(), cwd=ROOT
        )
    try:
        deadline = time.monotonic() + ready_timeout
        with httpx.Client(timeout=30) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(launch.log_path.read_text("utf-8")[-3000:])
                try:
                    if http.get(f"{launch.url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daemon not ready within {ready_timeout:g} s")
                time.sleep(0.2)
        ready = time.perf_counter() - started
        yield RunningDaemon(launch.url, process.pid, launch.log_path, ready)
    finally:
        process.terminate()
        process.wait(30)


async def run_cli(
    *args: str,
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.PIPE,
    env: dict[str, str] | None = None,
    within: float = 60,
) -> tuple[int, str, str]:
    """``ivh-monitor ARGS`` in its own process, awaited (so an in-process simulator keeps
    serving), for at most ``within`` seconds: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        *monitor_command(*args), stdout=stdout, stderr=stderr, env=env or clean_env(), cwd=ROOT
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, (out or b"").decode("utf-8"), (err or b"").decode("utf-8")


def fast_schedule() -> dict[str, float]:
    return {
        "services_seconds": 1,
        "timbres_seconds": 1,
        "images_seconds": 1,
        "actions_seconds": 1,
        "jitter_seconds": 0,
    }


@asynccontextmanager
async def serving(daemon: Daemon) -> AsyncIterator[str]:
    """The in-process daemon's HTTP front (metrics, probes, status page, API) on a free
    loopback port; its base URL while inside."""
    from monitor.server import create_app, start_server

    app = create_app(
        daemon.registry,
        daemon.store,
        alive=lambda: True,
        status=daemon,
        precedence=daemon.precedence,
    )
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
