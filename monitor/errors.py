"""The exceptions of ivh-monitor.

::

    IVHMonitorError
    ├── ConfigError                  bad configuration; message names every bad field
    └── UpstreamError                one failed call to the IVH gateway
        ├── TransportError           connect/read failure or timeout (retryable)
        │   └── DeadlineError        no whole answer (connect to last byte) in time,
        │                            or a whole collection job past its deadline
        ├── HTTPStatusError          non-2xx answer (5xx/429 retryable, others not)
        ├── APIError                 ``Header.Code != 0`` (retryable per docs/ivh-api.md §2)
        │   └── AuthError            credentials refused (100005 or a signature/time failure)
        ├── ParseError               the body is not the documented envelope
        └── IncompleteListingError   the rows of a listing don't add up to its ``Total``
                                     (short, shifted or lying pages), twice in a row

Every ``UpstreamError`` carries the endpoint and the account name, never the
access token: the token is not on the wire, and the URL with its signature is
kept out of messages on purpose.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthError",
    "ConfigError",
    "DeadlineError",
    "HTTPStatusError",
    "IVHMonitorError",
    "IncompleteListingError",
    "ParseError",
    "TransportError",
    "UpstreamError",
    "classify_api_code",
]

# docs/ivh-api.md §2: codes seen across the IVH API family. Only rate limiting and
# internal/remote failures can succeed on retry; everything else (and every
# unknown code) is permanent.
_RETRYABLE_CODES = frozenset({100012, 801004, 100000, -101000, -100000, 801000, 801002})
_RATE_LIMIT_CODES = frozenset({100012, 801004})
_AUTH_CODES = frozenset({100005})


def classify_api_code(code: int) -> tuple[bool, bool]:
    """Return ``(retryable, rate_limited)`` for an application error code."""
    return code in _RETRYABLE_CODES, code in _RATE_LIMIT_CODES


class IVHMonitorError(Exception):
    """Base of every error raised on purpose by ivh-monitor."""


class ConfigError(IVHMonitorError):
    """The configuration is invalid; ``problems`` lists one line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class UpstreamError(IVHMonitorError):
    """A call to the IVH gateway failed."""

    retryable: bool = False
    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        account: str,
        endpoint: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.account = account
        self.endpoint = endpoint
        self.request_id = request_id

    def __str__(self) -> str:
        rid = f" (RequestID {self.request_id})" if self.request_id else ""
        return f"{self.account}: {self.endpoint}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(account={self.account!r}, endpoint={self.endpoint!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    def log_fields(self) -> dict[str, object]:
        """The fields every failed-call log event carries (house style: typed, flat)."""
        return {
            "account": self.account,
            "endpoint": self.endpoint,
            "error": self.kind,
            "code": None,
            "message": self.message,
            "request_id": self.request_id,
        }


class TransportError(UpstreamError):
    retryable = True
    kind = "transport"


class HTTPStatusError(UpstreamError):
    kind = "http_status"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        account: str,
        endpoint: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, account=account, endpoint=endpoint, request_id=request_id)
        self.status = status
        self.retry_after = retry_after
        self.retryable = status >= 500 or status == 429

    def log_fields(self) -> dict[str, object]:
        return {**super().log_fields(), "code": self.status}


class APIError(UpstreamError):
    kind = "api"

    def __init__(
        self,
        message: str,
        *,
        code: int,
        account: str,
        endpoint: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, account=account, endpoint=endpoint, request_id=request_id)
        self.code = code
        self.retryable, self.rate_limited = classify_api_code(code)

    def __str__(self) -> str:
        rid = f" (RequestID {self.request_id})" if self.request_id else ""
        return f"{self.account}: {self.endpoint}: code {self.code}: {self.message}{rid}"

    def log_fields(self) -> dict[str, object]:
        return {**super().log_fields(), "code": self.code}


class AuthError(APIError):
    """The gateway refused the credentials.

    ``clock_skew_seconds`` is set when the gateway's ``Date`` header differs from
    our clock by more than the 5-minute window (docs/ivh-api.md §1): then the fix
    is NTP, not a new token.
    """

    kind = "auth"

    def __init__(
        self,
        message: str,
        *,
        code: int,
        account: str,
        endpoint: str,
        request_id: str | None = None,
        clock_skew_seconds: float | None = None,
    ) -> None:
        super().__init__(
            message, code=code, account=account, endpoint=endpoint, request_id=request_id
        )
        self.clock_skew_seconds = clock_skew_seconds

    def __str__(self) -> str:
        text = super().__str__()
        if self.clock_skew_seconds is not None:
            text += (
                f"; local clock is {self.clock_skew_seconds:+.0f} s off the gateway's,"
                " beyond the 300 s signature window: fix the time sync (NTP)"
            )
        return text

    def log_fields(self) -> dict[str, object]:
        return {**super().log_fields(), "clock_skew_seconds": self.clock_skew_seconds}


class ParseError(UpstreamError):
    kind = "parse"


class DeadlineError(TransportError):
    """The peer did not finish in time: one exchange (connect to last byte) past
    ``client.timeout_seconds``, or a collection job past its deadline."""

    kind = "deadline"


class IncompleteListingError(UpstreamError):
    """A listing whose rows did not add up to its ``Total`` on two walks (docs/ivh-api.md §3).

    ``listing`` names it (endpoint and type code), ``rows`` is how many rows arrived,
    ``total`` what ``Total`` claimed, ``reason`` one of ``short`` (fewer rows),
    ``extra`` (more rows), ``repeated`` (a row on two pages), ``total_changed``,
    ``too_large`` (``Total`` beyond ``client.max_pages``) or ``no_total``.
    ``partial`` holds what did arrive (the caller may show it, flagged).
    """

    kind = "incomplete"

    def __init__(
        self,
        message: str,
        *,
        account: str,
        endpoint: str,
        listing: str,
        rows: int,
        total: int,
        reason: str,
        partial: object = None,
    ) -> None:
        super().__init__(message, account=account, endpoint=endpoint)
        self.listing = listing
        self.rows = rows
        self.total = total
        self.reason = reason
        self.partial = partial

    def log_fields(self) -> dict[str, object]:
        return {
            **super().log_fields(),
            "listing": self.listing,
            "rows": self.rows,
            "total": self.total,
            "reason": self.reason,
        }
