"""structlog set-up: one event per line, JSON in production, readable on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from functools import partial
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from monitor.text import json_text, printable

__all__ = ["SecretScrubber", "configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL}


class SecretScrubber:
    """Last line of defence: replace any known secret in any string field.

    The code never logs a token on purpose; this keeps an accident (an
    exception text quoting a URL, a library's message) from leaking one.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def add(self, *secrets: str) -> None:
        self._secrets = sorted(
            {*self._secrets, *(s for s in secrets if len(s) >= 4)}, key=len, reverse=True
        )

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        if not self._secrets:
            return event_dict
        return {k: self._value(v) for k, v in event_dict.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, MutableMapping):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._value(v) for v in value)
        return value


def _printable_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    return {k: printable(v) if isinstance(v, str) else v for k, v in event_dict.items()}


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    *,
    stream: TextIO | None = None,
    scrubber: SecretScrubber | None = None,
) -> None:
    """Configure structlog and route the standard library's loggers through it."""
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    tail: list[Processor] = []
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        tail.append(structlog.processors.format_exc_info)
        # json_text: no raw C1 control or bidi mark from a vendor name in a log line
        renderer = structlog.processors.JSONRenderer(serializer=partial(json_text, default=str))
    if scrubber is not None:
        tail.append(scrubber)  # after format_exc_info, so tracebacks are scrubbed too
    if console:
        tail.append(_printable_values)  # fields may quote names: no escape codes on a terminal

    numeric = _LEVELS.get(level, logging.INFO)
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (apscheduler, aiohttp, httpx) log through the standard library:
    # render them the same way, one event per line.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    # httpx logs every request URL at INFO (noise, and it carries the signature);
    # apscheduler logs every job run at INFO: our collect.finished says it better.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
