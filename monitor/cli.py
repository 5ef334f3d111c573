"""The command line: everything is wired here, and only here.

settings → logging → clients → (collection | scheduler) → output
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from prometheus_client import disable_created_metrics

from monitor import __version__, heap
from monitor.alerts.messages import advice
from monitor.alerts.routing import reaches
from monitor.auth import BasicAuth
from monitor.config import Account, Settings, check_port, load_settings, parse_listen
from monitor.daemon import Daemon, Loader, tenancy_of
from monitor.domain import FAMILIES
from monitor.errors import ConfigError
from monitor.forecast import Runaway, assess, forecast_json
from monitor.history import HistoryError, parse_history, parse_time
from monitor.httpguard import HttpMetrics, Refusals
from monitor.log import SecretScrubber, configure_logging
from monitor.report import (
    ReportResult,
    collect_all,
    exit_status,
    print_problems,
    render_json,
    render_table,
)
from monitor.server import create_app, start_server
from monitor.snapshot import SnapshotStore
from monitor.text import json_text, printable
from monitor.webconfig import load_web_config, ssl_context

__all__ = ["main"]

log = structlog.get_logger("monitor.cli")

EXIT_USAGE = 64  # EX_USAGE: a configuration error
EXIT_SOFTWARE = 70  # EX_SOFTWARE: an unexpected error (a bug), never "an asset expires soon"
EXIT_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (``report | head -1``)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivh-monitor",
        description="Watch Tencent Cloud IVH assets: hour packages, quotas, voices, images.",
    )
    parser.add_argument("--version", action="version", version=f"ivh-monitor {__version__}")
    parser.add_argument(
        "--config",
        "--config.file",
        dest="config",
        metavar="PATH",
        help="YAML config file (default: $IVH_MONITOR_CONFIG); --config.file as exporters spell it",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "console"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    report = sub.add_parser("report", help="collect every account once and print its assets")
    report.add_argument("--format", choices=["table", "json"], default="table")
    report.add_argument(
        "--critical-days", type=float, help="exit 1 when an asset expires within this many days"
    )
    report.add_argument("-v", "--verbose", action="store_true", help="also print log events")
    _collector_flags(report)

    sub.add_parser("check-config", help="validate the config and print it, secrets masked")

    sim = sub.add_parser("simulate", help="serve a local simulator of the IVH asset API")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_port, default=8081)
    sim.add_argument("--dataset", metavar="FILE", help="YAML/JSON dataset (default: built-in)")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    sim.add_argument("--rate-limit", type=float, help="requests per second per appkey")
    sim.add_argument(
        "--paths",
        choices=("both", "public", "document"),
        default="both",
        help="path spellings served: both (default), public (customerassetservice for all"
        " six) or document (customerassetsservice, getaction with one s)",
    )

    run = sub.add_parser("run", help="run the daemon: scheduled collection, /metrics, alerts")
    run.add_argument(
        "--shard",
        metavar="i/N",
        help="watch only the accounts of shard i of N (auto/N: from a StatefulSet pod's"
        " ordinal); same as IVH_MONITOR_SHARD",
    )
    run.add_argument(
        "--config",
        "--config.file",
        dest="config",
        metavar="PATH",
        default=argparse.SUPPRESS,  # else it would reset the one given before `run`
        help="YAML config file, as the option before the command",
    )
    run.add_argument(
        "--listen",
        "--web.listen-address",
        dest="listen",
        metavar="HOST:PORT",
        help="where /metrics, /healthz, /readyz and the status page are served (default:"
        " the config's listen, $IVH_MONITOR_LISTEN, or 0.0.0.0:9877)",
    )
    _collector_flags(run)

    alerts = sub.add_parser("alerts", help="the daemon's alerts: list them, test the channels")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    listing = alerts_sub.add_parser("list", help="current alerts and pending notifications")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    test = alerts_sub.add_parser("test", help="send a test message to each channel")
    test.add_argument("--channel", help="only this channel")

    demo = sub.add_parser(
        "demo", help="run the daemon against the embedded simulator's demo accounts"
    )
    demo.add_argument(
        "--listen", default=DEMO_LISTEN, help=f"host:port of the demo's /metrics ({DEMO_LISTEN})"
    )
    demo.add_argument(
        "--report", action="store_true", help="print a one-shot report instead of running"
    )
    demo.add_argument("--format", choices=["table", "json"], default="table")

    fc = sub.add_parser(
        "forecast",
        help="forecast one hour package from a CSV history (timestamp,remaining_seconds)",
        description="Forecast one hour package from its history: when it runs dry, what is"
        " left at expiry, whether it is burning far above its usual rate (docs/forecast.md)."
        " Exit 0; 1 when it runs dry before it expires or burns away; 64 for bad input.",
    )
    fc.add_argument("--history", metavar="FILE", required=True, help="CSV file, '-' for stdin")
    fc.add_argument(
        "--now", metavar="T", help="epoch seconds or ISO 8601 (default: the last sample)"
    )
    fc.add_argument("--expires-at", metavar="T", help="when the package expires (default: never)")
    fc.add_argument("--format", choices=["table", "json"], default="table")
    fc.add_argument(
        "--timezone",
        metavar="ZONE",
        default="UTC",
        help="IANA zone of the weekly profile (the account's zone), and of times given"
        " without an offset (default: UTC)",
    )
    fc.add_argument(
        "--model", choices=["weekly", "linear"], default="weekly", help="as alerts.forecast.model"
    )
    fc.add_argument("--factor", default="3", help="runaway: times the usual burn (default: 3)")
    fc.add_argument(
        "--sustained-minutes", default="30", help="runaway: for this long (default: 30)"
    )
    fc.add_argument(
        "--language", choices=["en", "zh"], default="en", help="of the advice (default: en)"
    )
    return parser


def _port(text: str) -> int:
    """``--port``: a number in range, or argparse's one-line usage error."""
    try:
        return check_port(int(text))
    except ValueError as exc:
        message = str(exc) if text.strip().lstrip("-").isdigit() else f"not a number: {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _reason(exc: OSError) -> str:
    """What the OS said (``Address already in use``), without the wrapping of the
    library that raised it."""
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)


def _collector_flags(parser: argparse.ArgumentParser) -> None:
    """``--no-collector.<family>`` (node_exporter's spelling) and ``--collector.<family>``."""
    group = parser.add_argument_group(
        "collectors", "turn an asset family off or on (config: collectors.<family>)"
    )
    for family in FAMILIES:
        group.add_argument(
            f"--collector.{family}",  # BooleanOptionalAction adds --no-collector.<family>
            dest=f"collector_{family}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"collect {family} (default: on)",
        )


def _collector_overrides(args: argparse.Namespace) -> dict[str, bool]:
    return {
        family: value
        for family in FAMILIES
        if (value := getattr(args, f"collector_{family}", None)) is not None
    }


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    if collectors := _collector_overrides(args):
        overrides["collectors"] = collectors
    if args.log_level:
        overrides["log_level"] = args.log_level
    if args.log_format:
        overrides["log_format"] = args.log_format
    return load_settings(args.config, **overrides)


def _scrubber(accounts: Sequence[Account]) -> SecretScrubber:
    return SecretScrubber(a.access_token.get_secret_value() for a in accounts)


def _cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    accounts = settings.resolved_accounts()
    data = settings.masked()
    data["effective_accounts"] = [
        {
            "name": a.name,
            "appkey": a.appkey,
            "access_token": "**********",
            "base_url": a.base_url,
            "timezone": str(a.zone),
            "labels": a.labels,
        }
        for a in accounts
    ]
    channels = settings.effective_alerts().channels
    data["effective_channels"] = [
        {
            "name": c.name,
            "type": c.type,
            "target": c.masked_url(),
            "route": "routed" if c.routed else "default",
            "digest": None if c.digest is None else c.digest.model_dump(),
        }
        for c in channels
    ]
    routes = {a.name: [c.name for c in reaches(channels, a.name, tenancy_of(a))] for a in accounts}
    data["effective_routes"] = routes
    data["effective_state_dir"] = str(settings.effective_state_dir())
    if settings.web_config_file is not None:  # refused here as `run` would refuse it
        web = load_web_config(settings.web_config_file)
        data["effective_web_config"] = {
            "tls": web.tls_server_config is not None,
            "basic_auth_users": sorted(web.basic_auth_users),
        }
    sys.stdout.write(json_text(data, indent=2))
    # stdout stays the JSON document and the verdict; the routes are for the reader
    sys.stderr.write("routes (account: channels its alerts reach):\n")
    for account in accounts:
        reached = ", ".join(routes[account.name]) or "(none)"
        tenant = f" [tenant {account.tenant}]" if account.tenant else ""
        sys.stderr.write(printable(f"  {account.name}{tenant}: {reached}") + "\n")
    for name, reached_by in routes.items():
        if channels and not reached_by:
            sys.stderr.write(
                printable(f"ivh-monitor: warning: account {name}: its alerts reach no channel")
                + "\n"
            )
    sys.stdout.write("\nconfiguration OK\n")
    return 0


def _print_report(args: argparse.Namespace, settings: Settings, result: ReportResult) -> int:
    from monitor.console import table_console  # noqa: PLC0415 - only the report draws tables

    if args.format == "json":
        render_json(result, sys.stdout)
    else:
        render_table(result, table_console(sys.stdout), settings)
    print_problems(result, sys.stderr)
    critical = args.critical_days if getattr(args, "critical_days", None) is not None else None
    return exit_status(result, settings.critical_days if critical is None else critical)


def _cmd_report(args: argparse.Namespace) -> int:
    settings = _settings(args)
    accounts = settings.resolved_accounts()
    # Problems are printed as plain lines on stderr; log events only on request.
    configure_logging(
        settings.log_level if args.verbose else "critical",
        settings.log_format,
        scrubber=_scrubber(accounts),
    )
    result = asyncio.run(collect_all(settings, accounts, show_progress=sys.stderr.isatty()))
    return _print_report(args, settings, result)


def _cmd_simulate(args: argparse.Namespace) -> int:
    # the simulator, demo and rich load only for the commands that use them: the
    # daemon's resident memory is what production pays for
    from monitor.simulator import DatasetError, serve  # noqa: PLC0415

    configure_logging(args.log_level or "info", args.log_format or "auto")
    try:
        serve(
            args.host,
            args.port,
            args.dataset,
            latency=args.latency,
            rate_limit_per_second=args.rate_limit,
            spellings=args.paths,
        )
    except DatasetError as exc:  # a --dataset file that cannot be used: one line naming the field
        sys.stderr.write(f"ivh-monitor: simulate: {printable(str(exc))}\n")
        return EXIT_USAGE
    except OSError as exc:  # the port is taken, or not ours to bind: as `run` says it
        shown = f"[{args.host}]" if ":" in args.host else args.host
        raise ConfigError(
            [f"--host/--port: cannot listen on {shown}:{args.port}: {_reason(exc)}"]
        ) from None
    return 0


def _cmd_alerts(args: argparse.Namespace) -> int:
    from monitor.alerts.cli import list_alerts, send_test  # noqa: PLC0415 - CLI-only, uses rich

    settings = _settings(args)
    configure_logging("warning", settings.log_format)
    if args.alerts_command == "test":
        return asyncio.run(send_test(settings, args.channel, sys.stdout))
    return list_alerts(settings, sys.stdout, fmt=args.format, err=sys.stderr)


#: how long a thread holds the GIL before one waiting for it may take it (CPython: 5 ms)
_SWITCH_INTERVAL_SECONDS = 0.001


async def _serve(
    settings: Settings,
    accounts: Sequence[Account],
    *,
    banner: Callable[[str], None] | None = None,
    loader: Loader | None = None,
    scrubber: SecretScrubber | None = None,
    with_daemon: Callable[[Daemon], Coroutine[Any, Any, None]] | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT; SIGHUP reloads the configuration
    (``with_daemon`` runs beside it: the demo's)."""
    # The daemon's threads (the HTTP client's loop, the prerenderer, the scrapes'
    # workers) share the GIL; a thread that gave it up for a moment (zlib, a socket)
    # waits a whole switch interval to get it back from a busy one. At CPython's
    # 5 ms a plain scrape under collection waited 100-250 ms for it; at 1 ms, ~20.
    sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)
    web_config = load_web_config(settings.web_config_file) if settings.web_config_file else None
    daemon = Daemon(
        settings,
        accounts,
        loader=loader,
        on_secrets=(lambda secrets: scrubber.add(*secrets)) if scrubber is not None else None,
    )
    host, port = parse_listen(settings.listen)
    refusals = Refusals(HttpMetrics(daemon.registry))
    auth = None
    if web_config is not None and web_config.basic_auth_users:
        auth = BasicAuth(
            web_config.basic_auth_users,
            refusals,
            settings.http,
            protect_health=web_config.protect_health,
        )
    app = create_app(
        daemon.registry,
        daemon.store,
        alive=lambda: daemon.alive,
        status=daemon,
        grafana_url=settings.grafana_url,
        refusals=refusals,
        auth=auth,
        reload=daemon.reload,
        precedence=daemon.precedence,
    )
    try:
        runner, bound = await start_server(
            app,
            host,
            port,
            ssl_context=ssl_context(web_config) if web_config else None,
            limits=settings.http,
            refusals=refusals,
        )
    except OSError as exc:
        await daemon.stop()
        raise ConfigError([f"listen: cannot listen on {settings.listen}: {_reason(exc)}"]) from None
    daemon.start()
    trimmer = asyncio.create_task(_trim_heap(daemon.store))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    scheme = "https" if web_config is not None and web_config.tls_server_config else "http"
    base = f"{scheme}://{shown}:{bound}"
    log.info("server.listening", url=base, metrics=f"{base}/metrics")
    if banner is not None:
        banner(base)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[tuple[bool, list[str]]]] = set()

    def hangup() -> None:
        log.info("config.reload_requested", source="SIGHUP")
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, hangup)
    beside: asyncio.Task[None] | None = None
    if with_daemon is not None:
        beside = asyncio.create_task(with_daemon(daemon))
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        trimmer.cancel()
        log.info("daemon.stopping")
        if beside is not None:
            beside.cancel()
        await daemon.stop()
        await runner.cleanup()
    return 0


#: how often the heap trimmer looks at the snapshot, and the longest it waits for a
#: quiet moment (no swap for one look) before it trims anyway
_TRIM_LOOK_SECONDS = 5.0
_TRIM_AT_LEAST_SECONDS = 60.0


async def _trim_heap(store: SnapshotStore) -> None:
    """Give freed memory back (:func:`monitor.heap.trim`) once the snapshot has
    changed and then held still for a look (a cycle of collections ended), or after
    a minute of changes without a pause; a daemon whose data does not change trims
    nothing (idle costs one comparison every few seconds)."""
    loop = asyncio.get_running_loop()
    trimmed = seen = store.current
    last = loop.time()
    while True:
        await asyncio.sleep(_TRIM_LOOK_SECONDS)
        current = store.current
        quiet = current is seen
        seen = current
        if current is trimmed:
            continue
        if quiet or loop.time() - last >= _TRIM_AT_LEAST_SECONDS:
            await asyncio.to_thread(heap.trim)
            trimmed, last = current, loop.time()


def _cmd_run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.shard:
        overrides["shard"] = args.shard
    if args.listen:
        overrides["listen"] = args.listen
    settings = _settings(args, **overrides)
    everyone = settings.resolved_accounts()
    accounts = settings.sharded(everyone)
    scrubber = _scrubber(everyone)
    for channel in settings.effective_alerts().channels:
        scrubber.add(*channel.secret_values())
    configure_logging(settings.log_level, settings.log_format, scrubber=scrubber)

    def load() -> tuple[Settings, list[Account]]:
        fresh = _settings(args, **overrides)
        return fresh, fresh.sharded(fresh.resolved_accounts())

    if settings.shard is not None:
        log.info(
            "shard.accounts",
            shard=settings.shard,
            accounts=[a.name for a in accounts],
            of_total=len(everyone),
        )
    return asyncio.run(_serve(settings, accounts, loader=load, scrubber=scrubber))


def _demo_banner(sim_url: str, sink_url: str, tenant_sink: str) -> Callable[[str], None]:
    from monitor.demo import DEMO_TENANT  # noqa: PLC0415
    from monitor.simulator import DEMO_ACCOUNTS  # noqa: PLC0415

    tenant, members = DEMO_TENANT

    def show(base: str) -> None:
        names = ", ".join(name for name, _, _ in DEMO_ACCOUNTS)
        sys.stderr.write(
            "\n"
            "  ivh-monitor demo is running (Ctrl-C to stop)\n"
            f"  simulated IVH gateway : {sim_url}  (accounts: {names})\n"
            f"  metrics               : {base}/metrics\n"
            f"  health / readiness    : {base}/healthz  {base}/readyz\n"
            f"  status page           : {base}/\n"
            f"  alerts go to          : {sink_url}  (printed below as [alert sink] lines)\n"
            f"  tenant {tenant} ({', '.join(members)}): {tenant_sink}\n"
            f"                          (its alerts, its digest: [alert sink {tenant}] lines)\n"
            "  try: curl -s " + base + "/metrics | grep ivh_asset_expiry\n\n"
        )

    return show


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import (  # noqa: PLC0415 - see _cmd_simulate
        DEMO_SCHEDULE,
        DEMO_TENANT,
        burn_hours,
        demo_alerts,
        demo_settings,
        run_sink,
        seed_demo_history,
    )
    from monitor.simulator import default_dataset, run_simulator  # noqa: PLC0415

    if args.report:
        configure_logging("critical", "auto")

        async def report() -> ReportResult:
            async with run_simulator(default_dataset(datetime.now(UTC))) as sim:
                settings, accounts = demo_settings(sim.url)
                sys.stderr.write(f"demo: simulator of the IVH asset API at {sim.url}\n")
                return await collect_all(settings, accounts, show_progress=sys.stderr.isatty())

        settings, _ = demo_settings("http://127.0.0.1")
        args.critical_days = None
        return _print_report(args, settings, asyncio.run(report()))

    configure_logging(args.log_level or "info", args.log_format or "auto")

    async def serve_demo() -> int:
        with tempfile.TemporaryDirectory(prefix="ivh-monitor-demo-") as state:
            async with (
                run_simulator(default_dataset(datetime.now(UTC))) as sim,
                run_sink() as (sink_url, _),
                run_sink(name=DEMO_TENANT[0]) as (tenant_sink, _),
            ):
                burner = asyncio.create_task(burn_hours(sim.dataset))
                settings, accounts = demo_settings(
                    sim.url,
                    listen=args.listen,
                    schedule=DEMO_SCHEDULE,
                    state_dir=state,
                    alerts=demo_alerts(sink_url, tenant_sink),
                )
                banner = _demo_banner(sim.url, sink_url, tenant_sink)
                try:
                    return await _serve(
                        settings, accounts, banner=banner, with_daemon=seed_demo_history
                    )
                finally:
                    burner.cancel()

    return asyncio.run(serve_demo())


DEMO_LISTEN = "127.0.0.1:9877"


class _BadInputError(Exception):
    """Bad input to ``forecast``: its one line (exit 64)."""


def _usage_error(message: str) -> int:
    sys.stderr.write(printable(f"ivh-monitor: error: forecast: {message}") + "\n")
    return EXIT_USAGE


def _forecast_history(args: argparse.Namespace, zone: tzinfo) -> list[tuple[float, float]]:
    try:
        if args.history == "-":
            return parse_history(sys.stdin, zone)
        with open(args.history, encoding="utf-8-sig", errors="strict") as handle:
            return parse_history(handle, zone)
    except OSError as exc:
        raise _BadInputError(f"--history {args.history!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _BadInputError(f"--history {args.history!r}: not UTF-8 text ({exc.reason})") from None
    except HistoryError as exc:
        raise _BadInputError(f"{args.history}: {exc}") from None


def _number(name: str, given: str, low: float, high: float, *, above: bool = False) -> float:
    try:
        value = float(given)
    except ValueError:
        raise _BadInputError(f"{name} {given!r} is not a number") from None
    if not ((low < value) if above else (low <= value)) or not value <= high:
        raise _BadInputError(f"{name} {given!r} is outside {low:g} .. {high:g}")
    return value


def _moment(name: str, given: str | None, zone: tzinfo) -> float | None:
    if given is None:
        return None
    try:
        return parse_time(given, zone)
    except ValueError as exc:
        raise _BadInputError(f"{name} {exc}") from None


def _cmd_forecast(args: argparse.Namespace) -> int:
    """``ivh-monitor forecast``: the daemon's forecast over a CSV history, offline."""
    try:
        return _forecast(args)
    except _BadInputError as exc:
        return _usage_error(str(exc))


def _forecast(args: argparse.Namespace) -> int:
    try:
        zone: tzinfo = ZoneInfo(args.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise _BadInputError(f"--timezone {args.timezone!r} is not an IANA time zone") from None
    samples = _forecast_history(args, zone)
    factor = _number("--factor", args.factor, 1.0, 1000.0, above=True)
    sustained = _number("--sustained-minutes", args.sustained_minutes, 5.0, 7 * 24 * 60.0)
    given_now = _moment("--now", args.now, zone)
    expires = _moment("--expires-at", args.expires_at, zone)
    last = max(t for t, _ in samples)
    now_t = given_now if given_now is not None else last
    before = [(t, r) for t, r in samples if t <= now_t]
    if not before:
        raise _BadInputError(f"--now {args.now!r} is before the first sample")
    remaining = max(before, key=lambda p: p[0])[1]
    now = datetime.fromtimestamp(now_t, UTC)
    expires_at = datetime.fromtimestamp(expires, UTC) if expires is not None else None
    result = assess(
        samples,
        remaining=remaining,
        now=now,
        expires_at=expires_at,
        zone=zone,
        weekly=args.model == "weekly",
        runaway=Runaway(factor, sustained * 60),
    )
    if result is None:
        raise _BadInputError(
            f"{args.history}: too little history for a forecast ({len(before)} sample(s)"
            " up to --now; the line needs 6 h after the last top-up, the weekly model a week)"
        )
    facts = {
        "depletion_at": result.depletion_at,
        "depletion_earliest": result.depletion_earliest,
        "depletion_latest": result.depletion_latest,
        "expires_at": expires_at,
        "buy_seconds": result.buy_seconds,
        "unused_seconds": result.unused_at_expiry,
    }
    record: dict[str, object] = {
        "now": now.astimezone(zone).isoformat(),
        "timezone": args.timezone,
        "remaining_seconds": remaining,
        "expires_at": expires_at.astimezone(zone).isoformat() if expires_at else None,
        "samples": len(before),
        **forecast_json(result),
        "advice": advice(facts, args.language, zone),
    }
    for key in ("depletion_at", "depletion_earliest", "depletion_latest", "runaway_depletion_at"):
        if isinstance(when := record.get(key), str):
            record[key] = datetime.fromisoformat(when).astimezone(zone).isoformat()
    if args.format == "json":
        sys.stdout.write(json_text(record, indent=2) + "\n")
    else:
        width = max(len(k) for k in record)
        for key, item in record.items():
            shown = "; ".join(item) if isinstance(item, list) else item
            shown = "-" if shown is None or shown == "" else shown
            sys.stdout.write(printable(f"{key:<{width}}  {shown}") + "\n")
    dry = result.depletion_at is not None and (
        expires_at is None or result.depletion_at < expires_at
    )
    return 1 if result.runaway or dry else 0


_COMMANDS = {
    "run": _cmd_run,
    "alerts": _cmd_alerts,
    "check-config": _cmd_check_config,
    "report": _cmd_report,
    "simulate": _cmd_simulate,
    "demo": _cmd_demo,
    "forecast": _cmd_forecast,
}


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: after a broken pipe (or a full disk) the
    interpreter's own flush at exit would fail again, with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (tests, embedding)
        pass


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ours, for the one-line message."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}monitor{os.sep}" in f.filename] or frames
    if not ours:
        return ""
    frame = ours[-1]
    name = frame.filename.rsplit(f"{os.sep}monitor{os.sep}", 1)[-1]
    return f" at monitor/{name}:{frame.lineno}"


def _unexpected(args: argparse.Namespace, exc: Exception) -> int:
    """One ``error:`` line for an exception no command expected, exit 70.

    The line names the exception's type and where it was raised; its message only
    for OS errors (a full disk, a permission: the user can act on those), since
    other messages may quote anything, secrets included. The traceback goes to
    the log (when logging is set up and lets errors through) and, with
    ``--log-level debug``, to stderr.
    """
    if isinstance(exc, OSError):
        _quiet_stdout()  # stdout itself may be what failed
    if structlog.is_configured():  # else structlog's default would print to stdout
        log.error(
            "cli.unexpected_error", command=args.command, error=type(exc).__name__, exc_info=exc
        )
    detail = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
    sys.stderr.write(
        printable(
            f"ivh-monitor: error: {args.command}: unexpected {type(exc).__name__}{_where(exc)}"
            f"{detail} (exit {EXIT_SOFTWARE}; --log-level debug shows the traceback)"
        )
        + "\n"
    )
    if args.log_level == "debug":
        traceback.print_exception(exc, file=sys.stderr)
    return EXIT_SOFTWARE


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn what a command raises into an exit status:
    64 for configuration errors, 70 for anything unexpected, 141 when stdout's
    reader went away, 130 on Ctrl-C. A command's own status (report: 0/1/2)
    is returned only when it ran to the end and its output was written."""
    args = _parser().parse_args(argv)
    heap.limit_arenas()  # before any thread: workers share one malloc arena
    # The daemon's own counters need no *_created series: they only add noise.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
    try:
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a write that fails must fail here, not at exit
    except ConfigError as exc:
        lines = str(exc).split("\n")  # one line per bad field, each quoting the config
        sys.stderr.write("ivh-monitor: " + "\n".join(printable(x) for x in lines) + "\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except Exception as exc:  # noqa: BLE001 - the last resort: a status of its own, one line
        return _unexpected(args, exc)
    return status
