"""The status page in a real headless Chromium against the real demo daemon.

``ivh-monitor demo`` runs as a subprocess (simulator, daemon with short
intervals, local alert sink); Playwright drives the system's Chromium
(``/usr/bin/chromium``, installed by apt: Playwright's own browser download is
never used). The screenshot is left in the test's temp dir as a CI artefact.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.processes import clean_env, eventually, free_port

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("IVH_TEST_CHROMIUM", "/usr/bin/chromium")


def _require_browser() -> Any:
    """The async Playwright entry point; in CI a missing browser fails, elsewhere it skips."""
    problem = None
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        problem = "playwright is not installed (pip install playwright)"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"{CHROMIUM} missing (apt-get install chromium fonts-wqy-microhei)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"required in CI: {problem}")
        pytest.skip(problem)
    return async_playwright


@pytest_asyncio.fixture
async def demo(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "--log-format",
            "json",
            "demo",
            "--listen",
            f"127.0.0.1:{port}",
            stdout=log_file,
            stderr=log_file,
            env=clean_env(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:

            async def burn_charts() -> bool:
                # two services collections (20 s apart in the demo) make a burn-down
                if process.returncode is not None:
                    raise AssertionError(log_path.read_text("utf-8"))
                try:
                    page = await http.get(f"{url}/")
                except httpx.TransportError:
                    return False
                return page.status_code == 200 and 'class="burn"' in page.text

            await eventually(burn_charts, "burn-down charts on the demo's page", tries=900)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_status_page_in_chromium(demo: str, tmp_path: Path) -> None:
    async_playwright = _require_browser()
    async with httpx.AsyncClient() as http:
        records = (await http.get(f"{demo}/api/assets")).json()
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            response = await page.goto(demo + "/", wait_until="load")
            assert response is not None
            assert response.status == 200
            assert await page.title()

            # per account: the table starts with what lapses next
            tables = page.locator("table.assets")
            assert await tables.count() == 3  # empty-trial has no assets
            for i in range(await tables.count()):
                table = tables.nth(i)
                account = await table.get_attribute("data-account")
                first = table.locator("tbody tr").first
                name = await first.locator(".name").inner_text()
                when = await first.locator("time").get_attribute("datetime")
                assert when is not None
                upcoming = [
                    r
                    for r in records
                    if r["account"] == account
                    and r["expires_in_seconds"] is not None
                    and r["expires_in_seconds"] > 0
                ]
                soonest = min(upcoming, key=lambda r: r["expires_in_seconds"])
                assert name == soonest["name"], account
                assert datetime.fromisoformat(when) == datetime.fromisoformat(soonest["expires_at"])
                badge = first.locator("td.left .badge")
                assert "sev-critical" in (await badge.get_attribute("class") or "")

            # the timeline and at least one burn-down chart, drawn
            assert await page.locator("svg.timeline").count() == 4
            assert await page.locator("svg.timeline g.bucket").count() > 0
            assert await page.locator("svg.burn polyline.history").count() > 0
            box = await page.locator("svg.burn").first.bounding_box()
            assert box is not None
            assert box["width"] > 200
            assert box["height"] > 80

            # the table sorts by query parameter (no script involved)
            await page.locator("table.assets").first.locator("thead a", has_text="Name").click()
            await page.wait_for_load_state("load")
            assert "sort=name" in page.url

            await page.goto(demo + "/", wait_until="load")
            shot = tmp_path / "status-page.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    print(f"status page screenshot: {shot}")  # noqa: T201 - the CI artefact's path
    assert shot.stat().st_size > 10_000
    assert problems == []
