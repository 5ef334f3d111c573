"""The daemon's HTTP endpoints facing a hostile network, over real sockets on the
real daemon: password checks off the loop and bounded, no user enumeration,
failed logins throttled per address, malformed hashes refused at load, slow
and oversized clients cut off, connections bounded, refusals logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import RunningSimulator
from tests.conftest import TEST_TOKEN
from tests.processes import (
    DaemonProcess,
    Samples,
    clean_env,
    eventually,
    fast_schedule,
    start_daemon,
    value,
)

PASSWORD = "correct horse battery staple"
USER = "prometheus"


def _hash(password: str = PASSWORD, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def _config(
    sim: RunningSimulator,
    tmp_path: Path,
    *,
    users: dict[str, str] | None = None,
    http: dict[str, Any] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "accounts": [
            {"name": "t1", "appkey": "ak-t1", "access_token": TEST_TOKEN, "base_url": sim.url}
        ],
        "schedule": fast_schedule(),
        "state_dir": str(tmp_path / "state"),
        "http": http or {},
    }
    if users is not None:
        web = tmp_path / "web.yml"
        web.write_text(yaml.safe_dump({"basic_auth_users": users}), "utf-8")
        config["web_config_file"] = str(web)
    return config


async def _metrics(daemon: DaemonProcess, auth: tuple[str, str] | None = None) -> Samples:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{daemon.url}/metrics", auth=auth)
    assert answer.status_code == 200, answer.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(answer.text)
        for s in fam.samples
    }


# -- basic auth ----------------------------------------------------------------------


async def test_healthz_answers_while_the_password_pool_is_saturated(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    # cost 12: a check is a sizeable fraction of a second, 40 of them on two
    # threads are seconds of work; on the loop they would stall everything
    hashed = _hash(cost=12)
    daemon = await start_daemon(
        _config(
            sim,
            tmp_path,
            users={USER: hashed},
            http={"auth_failure_burst": 1000, "auth_max_pending": 64},
        ),
        tmp_path,
    )
    good = (USER, PASSWORD)
    try:
        await _metrics(daemon, good)  # checked once, then cached: later scrapes are free
        async with httpx.AsyncClient(timeout=120) as http:
            guesses = [
                asyncio.create_task(http.get(f"{daemon.url}/metrics", auth=(USER, f"guess-{i}")))
                for i in range(40)
            ]

            async def saturated() -> bool:
                busy = value(await _metrics(daemon, good), "ivh_http_auth_checks_in_flight")
                return busy is not None and busy >= 2

            await eventually(saturated, "the bcrypt pool busy")
            async with httpx.AsyncClient(timeout=2) as probe:
                health = await probe.get(f"{daemon.url}/healthz")
            assert health.status_code == 200
            # answered while the guesses were still being checked
            assert not all(g.done() for g in guesses)
            answers = await asyncio.gather(*guesses)
        assert [a.status_code for a in answers] == [401] * 40
        samples = await _metrics(daemon, good)
        assert value(samples, "ivh_http_auth_hash_checks_total") == 41
        assert value(samples, "ivh_http_auth_failures_total", reason="invalid") == 40
        assert value(samples, "ivh_http_auth_checks_in_flight") == 0
    finally:
        await daemon.stop()
    log = daemon.log_path.read_text("utf-8")
    assert PASSWORD not in log
    assert hashed not in log
    assert "guess-" not in log


async def test_beyond_the_pending_bound_checks_are_refused_at_once(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(
        _config(
            sim,
            tmp_path,
            users={USER: _hash(cost=12)},
            http={"auth_failure_burst": 1000, "auth_max_pending": 2},
        ),
        tmp_path,
    )
    try:
        async with httpx.AsyncClient(timeout=120) as http:
            answers = await asyncio.gather(
                *(http.get(f"{daemon.url}/metrics", auth=(USER, f"g{i}")) for i in range(20))
            )
        busy = [a for a in answers if a.status_code == 503]
        assert busy, [a.status_code for a in answers]
        assert {a.status_code for a in answers} <= {401, 503}
        assert all(int(a.headers["retry-after"]) >= 1 for a in busy)
        async with httpx.AsyncClient(timeout=30) as http:
            ok = await http.get(f"{daemon.url}/metrics", auth=(USER, PASSWORD))
        assert ok.status_code == 200
        samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(ok.text)
            for s in fam.samples
        }
        refused = value(samples, "ivh_http_requests_refused_total", reason="auth_busy")
        assert refused == len(busy)
    finally:
        await daemon.stop()
    assert len(daemon.events("http.refused", reason="auth_busy")) == 1  # once a minute


async def test_an_unknown_user_costs_a_hash_check_like_a_known_one(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(
        _config(sim, tmp_path, users={USER: _hash(), "other": _hash("x")}), tmp_path
    )
    good = (USER, PASSWORD)
    try:
        await _metrics(daemon, good)

        async def checks() -> float:
            return value(await _metrics(daemon, good), "ivh_http_auth_hash_checks_total") or 0

        before = await checks()
        async with httpx.AsyncClient(timeout=30) as http:
            known = await http.get(f"{daemon.url}/metrics", auth=(USER, "wrong"))
            after_known = await checks()
            unknown = await http.get(f"{daemon.url}/metrics", auth=("nobody", "wrong"))
            after_unknown = await checks()
        assert after_known - before == 1
        assert after_unknown - after_known == 1  # the dummy hash: no shortcut
        assert (known.status_code, known.text, known.headers["www-authenticate"]) == (
            unknown.status_code,
            unknown.text,
            unknown.headers["www-authenticate"],
        )
        assert known.status_code == 401
    finally:
        await daemon.stop()


async def test_failed_logins_are_throttled_per_address(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(
        _config(
            sim,
            tmp_path,
            users={USER: _hash()},
            http={"auth_failure_burst": 3, "auth_failure_refill_seconds": 3600},
        ),
        tmp_path,
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(3):
                wrong = await http.get(f"{daemon.url}/metrics", auth=(USER, f"guess-{i}"))
                assert wrong.status_code == 401
            throttled = await http.get(f"{daemon.url}/metrics", auth=(USER, "guess-3"))
            assert throttled.status_code == 429
            assert 1 <= int(throttled.headers["retry-after"]) <= 3600
            # the right password too: answering it would let the guessing go on
            right = await http.get(f"{daemon.url}/metrics", auth=(USER, PASSWORD))
            assert right.status_code == 429
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200  # probes
        # another address is a bucket of its own
        other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=other, timeout=30) as http:
            scrape = await http.get(f"{daemon.url}/metrics", auth=(USER, PASSWORD))
        assert scrape.status_code == 200
        samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(scrape.text)
            for s in fam.samples
        }
        assert value(samples, "ivh_http_requests_refused_total", reason="auth_throttled") == 2
        assert value(samples, "ivh_http_auth_hash_checks_total") == 4  # not the throttled
    finally:
        await daemon.stop()
    throttled_lines = daemon.events("http.refused", reason="auth_throttled")
    assert len(throttled_lines) == 1
    assert throttled_lines[0]["client"] == "127.0.0.1"
    assert len(daemon.events("http.auth_failed", reason="invalid")) == 1


BAD_HASHES = {
    "truncated": _hash()[:-2],
    "bad salt": _hash()[:28] + "Z" + _hash()[29:],  # stray low bits: "Invalid salt"
    "old variant": "$2x$" + _hash()[4:],
    "too dear": _hash()[:4] + "31" + _hash()[6:],
    "md5": "$apr1$abcdefgh$0123456789abcdefghijkl",
}


def _ivh(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(BAD_HASHES))
def test_a_malformed_hash_is_refused_at_load_naming_its_user(
    sim: RunningSimulator, tmp_path: Path, kind: str
) -> None:
    bad = BAD_HASHES[kind]
    config = _config(sim, tmp_path, users={USER: _hash(), "alice": bad})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    commands = [("check-config",), ("run",)] if kind == "bad salt" else [("check-config",)]
    for command in commands:
        done = _ivh(path, *command)
        assert done.returncode == 64, (command, done.stderr)
        problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
        assert len(problems) == 1, done.stderr
        assert "basic_auth_users.alice" in problems[0]
        assert bad not in done.stderr + done.stdout
        assert "Traceback" not in done.stderr


# -- slow, oversized and too many clients --------------------------------------------


async def _slow_client(port: int, *, silent: bool = False) -> bool:
    """Send a request head a byte at a time (or nothing); True once the server
    closes the connection. Bounded: gives up after 60 rounds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
    try:
        for i in range(60):
            if await _closed_after(reader, writer, b"" if silent else head[i : i + 1]):
                return True
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return False


async def _closed_after(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> bool:
    """Send ``data``, wait up to half a second: has the server closed the connection?"""
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(1024), 0.5) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True  # closed (reset) by the server


def _port(daemon: DaemonProcess) -> int:
    return int(daemon.url.rsplit(":", 1)[1])


async def test_slow_header_clients_are_cut_off_and_metrics_keep_answering(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(
        _config(sim, tmp_path, http={"header_timeout_seconds": 1}), tmp_path
    )
    try:
        port = _port(daemon)
        slow = [asyncio.create_task(_slow_client(port)) for _ in range(30)]
        slow += [asyncio.create_task(_slow_client(port, silent=True)) for _ in range(5)]

        assert value(await daemon.metrics(), "ivh_build_info") == 1  # answered meanwhile
        closed = await asyncio.gather(*slow)
        assert all(closed)
        samples = await daemon.metrics()
        assert value(samples, "ivh_http_requests_refused_total", reason="header_timeout") == 35

        async def only_the_scrape_left() -> bool:
            return value(await daemon.metrics(), "ivh_http_connections") == 1

        await eventually(only_the_scrape_left, "the slow connections counted out")
    finally:
        await daemon.stop()
    lines = daemon.events("http.refused", reason="header_timeout")
    assert len(lines) == 1
    assert lines[0]["level"] == "warning"
    assert lines[0]["client"] == "127.0.0.1"


async def test_oversized_requests_are_refused_with_one_warning_and_no_traceback(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(50):
                big = await http.get(f"{daemon.url}/metrics", headers={"X-Big": "a" * 20_000})
                assert big.status_code in (400, 431)
            body = await http.request("GET", f"{daemon.url}/metrics", content=b"x" * 100_000)
            assert body.status_code == 413
            page = await http.get(f"{daemon.url}/")
        assert page.status_code == 200
        assert "ivh_http_requests_refused_total" in page.text
        assert "too_large 51" in page.text
        samples = await daemon.metrics()
        assert value(samples, "ivh_http_requests_refused_total", reason="too_large") == 51
        # read while running: what a stop logs is another matter
        events = daemon.log_events()
        text = daemon.log_path.read_text("utf-8")
    finally:
        await daemon.stop()
    lines = [e for e in events if e["event"] == "http.refused" and e["reason"] == "too_large"]
    assert len(lines) == 1  # a minute's window
    assert lines[0]["level"] == "warning"
    assert not [e for e in events if e.get("level") in ("error", "critical")]
    assert not [e for e in events if "exception" in e or "exc_info" in e]
    assert "Traceback" not in text


async def test_connections_beyond_the_bound_are_refused_until_some_go(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    daemon = await start_daemon(
        _config(sim, tmp_path, http={"max_connections": 8, "header_timeout_seconds": 60}),
        tmp_path,
    )
    held: list[asyncio.StreamWriter] = []
    try:
        port = _port(daemon)
        for _ in range(8):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            held.append(writer)

        async def full() -> bool:
            try:
                async with httpx.AsyncClient(timeout=5) as http:
                    answer = await http.get(f"{daemon.url}/healthz")
            except httpx.TransportError:
                return True  # closed at once (a reset may beat the 503)
            return answer.status_code == 503 and "too many connections" in answer.text

        # the held sockets are accepted a moment after they connect
        await eventually(full, "a connection beyond the bound refused")
        for writer in held:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        held.clear()

        async def recovered() -> bool:
            async with httpx.AsyncClient(timeout=5) as http:
                return (await http.get(f"{daemon.url}/healthz")).status_code == 200

        await eventually(recovered, "/healthz answering again")
        samples = await daemon.metrics()
        refused = value(samples, "ivh_http_requests_refused_total", reason="too_many_connections")
        assert refused is not None
        assert refused >= 1
    finally:
        for writer in held:
            writer.close()
        await daemon.stop()
    assert len(daemon.events("http.refused", reason="too_many_connections")) == 1
