"""Real processes for end-to-end tests: the daemon, and waiting on things over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


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

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            return await asyncio.wait_for(self.process.wait(), 10)
        return self.process.returncode


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
    port = free_port()
    config = {"listen": f"127.0.0.1:{port}", "log_level": "debug", **config}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    log_path = tmp_path / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(path),
            "--log-format",
            "json",
            "run",
            *run_args,
            stdout=log_file,
            stderr=log_file,
            env=clean_env(),
        )
    url = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
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


def fast_schedule() -> dict[str, float]:
    return {
        "services_seconds": 1,
        "timbres_seconds": 1,
        "images_seconds": 1,
        "actions_seconds": 1,
        "jitter_seconds": 0,
    }
