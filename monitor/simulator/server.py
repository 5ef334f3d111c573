"""The simulator as an aiohttp application, and the ways to run it.

:func:`create_app` assembles the pieces: the vendor endpoints
(:mod:`monitor.simulator.api`, checked by :mod:`monitor.simulator.validate`),
the faults (:mod:`monitor.simulator.faults`) and the control API
(:mod:`monitor.simulator.control`) over one :class:`~monitor.simulator.state.SimState`.
:func:`run_simulator` serves it on a loopback port for tests and the demo;
:func:`serve` is ``ivh-monitor simulate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Literal

import structlog
from aiohttp import web

from monitor.endpoints import DEFAULT_PATHS, DOCUMENT_PATHS, alternate_path
from monitor.simulator import api, control
from monitor.simulator.dataset import Dataset
from monitor.simulator.faults import Fault, FaultRegistry
from monitor.simulator.loader import default_dataset, load_dataset
from monitor.simulator.state import STATE, Clock, RequestLog, SimState, TokenBuckets

__all__ = ["RunningSimulator", "Spellings", "create_app", "run_simulator", "serve"]

log = structlog.get_logger(__name__)

#: which spellings a gateway serves (docs/ivh-api.md §4 "Path spelling"): ``both``
#: (the default), ``public`` (one "s" for all six, as the vendor's pages and clients
#: spell them) or ``document`` (as the document we were given spells them: two "s",
#: except getaction)
Spellings = Literal["both", "public", "document"]


def _paths(spellings: Spellings) -> list[str]:
    """The API paths served: the public table, the document's, or both spellings of all six."""
    if spellings == "public":
        return list(DEFAULT_PATHS.values())
    if spellings == "document":
        return list(DOCUMENT_PATHS.values())
    both = ((path, alternate_path(path)) for path in DEFAULT_PATHS.values())
    return [path for pair in both for path in pair if path is not None]


def create_app(
    dataset: Dataset,
    faults: FaultRegistry | None = None,
    *,
    clock: Clock = time.time,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    spellings: Spellings = "both",
) -> web.Application:
    """The simulator as an aiohttp application over ``dataset``.

    ``clock`` is the gateway's clock (epoch seconds) for timestamp checks and
    the ``Date`` header; ``latency`` is added to every API call;
    ``rate_limit_per_second`` enables the per-appkey limiter; ``spellings``
    which path spellings answer (the others are 404s).
    """
    state = SimState(
        dataset=dataset,
        faults=faults if faults is not None else FaultRegistry(),
        base_clock=clock,
        latency=latency,
        limiter=TokenBuckets(rate_limit_per_second) if rate_limit_per_second else None,
        initial=dataset.clone(),
    )
    app = web.Application(middlewares=[control.loopback_only])
    app[STATE] = state
    for path in _paths(spellings):
        prefix, _, endpoint = path.rpartition("/")
        app.router.add_post(f"{prefix}/{{endpoint:{endpoint}}}", api.handle)
    control.add_routes(app)

    async def set_date(request: web.Request, response: web.StreamResponse) -> None:
        del request
        response.headers["Date"] = formatdate(state.now(), usegmt=True)

    async def cancel_hung(app: web.Application) -> None:
        del app
        # Hung requests would otherwise hold the runner's shutdown for its whole timeout.
        for task in list(state.hung):
            task.cancel()

    app.on_response_prepare.append(set_date)
    app.on_shutdown.append(cancel_hung)
    return app


@dataclass
class RunningSimulator:
    """A simulator listening on a local port (see :func:`run_simulator`)."""

    url: str
    host: str
    port: int
    dataset: Dataset
    faults: FaultRegistry
    requests: RequestLog
    app: web.Application

    def set_clock_offset(self, seconds: float) -> None:
        """Skew the simulated gateway's clock by ``seconds`` from the ``clock`` given."""
        self.app[STATE].clock_offset = seconds


@contextlib.asynccontextmanager
async def run_simulator(
    dataset: Dataset | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.time,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    faults: FaultRegistry | None = None,
    spellings: Spellings = "both",
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on ``host:port`` (0 = a free port) for the ``async with`` body.

    Without a dataset, :func:`default_dataset` at ``clock()``. On exit hung
    requests are cancelled and the port is released.
    """
    if dataset is None:
        dataset = default_dataset(datetime.fromtimestamp(clock(), UTC))
    app = create_app(
        dataset,
        faults,
        clock=clock,
        latency=latency,
        rate_limit_per_second=rate_limit_per_second,
        spellings=spellings,
    )
    # handler_cancellation: a client that gives up on a hung request frees its handler.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        url_host = f"[{host}]" if ":" in host else host
        state = app[STATE]
        yield RunningSimulator(
            url=f"http://{url_host}:{bound_port}",
            host=host,
            port=bound_port,
            dataset=dataset,
            faults=state.faults,
            requests=state.log,
            app=app,
        )
    finally:
        await runner.cleanup()


async def _serve_until_stopped(
    simulator: contextlib.AbstractAsyncContextManager[RunningSimulator], *, demo: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with simulator as sim:
        accounts = sim.dataset.accounts
        log.info("sim.started", url=sim.url, accounts=len(accounts), demo=demo)
        for account in accounts:
            # Only the demo dataset's tokens are public; a user's file keeps its secrets.
            token = {"access_token": account.access_token} if demo else {}
            log.info(
                "sim.account",
                name=account.name,
                appkey=account.appkey,
                gateway=account.gateway,
                **token,
            )
        await stop.wait()
        log.info("sim.stopping", url=sim.url)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    dataset_path: str | Path | None = None,
    *,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    faults: Iterable[Fault] = (),
    spellings: Spellings = "both",
) -> None:
    """Run the simulator until SIGINT/SIGTERM (``ivh-monitor simulate``).

    Logs ``sim.started`` with the URL and one ``sim.account`` per account
    (with the access token only for the public demo dataset).
    """
    now = datetime.now(UTC)
    demo = dataset_path is None
    dataset = default_dataset(now) if demo else load_dataset(Path(str(dataset_path)), now)
    simulator = run_simulator(  # entered on the loop, by _serve_until_stopped
        dataset,
        host=host,
        port=port,
        latency=latency,
        rate_limit_per_second=rate_limit_per_second,
        faults=FaultRegistry(faults),
        spellings=spellings,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(simulator, demo=demo))
