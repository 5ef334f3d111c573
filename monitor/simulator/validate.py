"""What a request to the simulated gateway must be, and the errors it gets when it is not.

- **Auth (docs/ivh-api.md §1).** Query ``appkey``, ``timestamp`` (seconds),
  ``signature``. The query is percent-decoded as any gateway does (``+`` as a
  space, form style), then the signature is checked against HMAC-SHA256 over
  the sorted ``k=v`` pairs of every other parameter, keyed with the
  AccessToken, Base64. So a raw ``/`` (the vendor's Python demo) still
  verifies, since ``/`` is legal in a query and decodes to itself; it is
  flagged ``signature_raw_slash`` in the request log. A raw ``+`` decodes to a
  space and fails. Failures answer HTTP 200 with these codes (no code is
  documented; chosen in the vendor's style):

  ======  ===========================================================
  100005  ``AuthFailure.InvalidAuthorization`` a parameter is missing
  100005  ``AuthFailure.InvalidAppKey`` unknown appkey
  100005  ``AuthFailure.InvalidTimestamp`` timestamp not an integer
  100005  ``AuthFailure.SignatureExpire`` timestamp off by more than 300 s
  100005  ``AuthFailure.SignatureFailure`` signature mismatch
  ======  ===========================================================

- **Envelope (§2).** The body must be a JSON object with a ``Header`` object
  and a ``Payload`` object, else 100001 ``InvalidParameter.…``. Payload field
  names match case-insensitively, as Go's ``encoding/json`` does (which is why
  the documented ``pageIndex`` slip works); a JSON ``null`` counts as absent.
- **Pagination (§3).** ``PageIndex`` 1-based, default 1; ``PageSize`` 1-100,
  default 10 (the vendor examples' value); 0 counts as absent (Go zero value).
  Over 100, negative, or a non-integer: 100002 / 100001.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from monitor.signing import signing_string
from monitor.simulator.dataset import SimAccount

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "INTERNAL",
    "MAX_PAGE_SIZE",
    "RATE_LIMITED",
    "TIMESTAMP_TOLERANCE_S",
    "ApiError",
    "authenticate",
    "opt_str",
    "opt_str_list",
    "paging",
    "parse_query",
    "payload_of",
    "peek_paging",
    "req_str",
]

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
TIMESTAMP_TOLERANCE_S = 300

_AUTH_MISSING = (
    100005,
    "AuthFailure.InvalidAuthorization:缺少鉴权参数appkey、timestamp或signature",
)
_AUTH_APPKEY = (100005, "AuthFailure.InvalidAppKey:appkey不存在")
_AUTH_TIMESTAMP = (100005, "AuthFailure.InvalidTimestamp:timestamp格式错误")
_AUTH_EXPIRED = (
    100005,
    "AuthFailure.SignatureExpire:签名已过期，timestamp与服务器时间相差超过5分钟",
)
_AUTH_SIGNATURE = (100005, "AuthFailure.SignatureFailure:签名校验失败")
RATE_LIMITED = (100012, "RequestLimitExceeded:请求过于频繁，请稍后重试")
INTERNAL = (100000, "InternalError:内部错误")

_TIMESTAMP = re.compile(r"^\d{1,12}$")


class ApiError(Exception):
    """An application error: HTTP 200 (unless ``status``) with Header.Code != 0."""

    def __init__(self, error: tuple[int, str], status: int = 200) -> None:
        super().__init__(error[1])
        self.code, self.message = error
        self.status = status


# --------------------------------------------------------------------------- auth (§1)


def parse_query(raw: str) -> tuple[dict[str, str], bool]:
    """Decoded query parameters (first wins) and whether the signature had a raw ``/``."""
    params: dict[str, str] = {}
    raw_slash = False
    for pair in raw.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        name = unquote_plus(key)
        if name == "signature" and "/" in value:
            raw_slash = True
        params.setdefault(name, unquote_plus(value))
    return params, raw_slash


def _expected_signature(params: Mapping[str, str], access_token: str) -> str:
    """Base64 HMAC-SHA256 of the string to sign (docs/ivh-api.md §1), not percent-encoded.

    The string to sign is :func:`monitor.signing.signing_string`, the one the
    client signs; tests/simulator/test_server.py derives it a third time, by hand.
    """
    text = signing_string(params)
    digest = hmac.new(access_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authenticate(params: Mapping[str, str], account: SimAccount | None, now: float) -> None:
    """Raise the gateway's :class:`ApiError` unless the query signs a call of ``account``."""
    if not all(params.get(k) for k in ("appkey", "timestamp", "signature")):
        raise ApiError(_AUTH_MISSING)
    if account is None:
        raise ApiError(_AUTH_APPKEY)
    if not _TIMESTAMP.match(params["timestamp"]):
        raise ApiError(_AUTH_TIMESTAMP)
    if abs(now - int(params["timestamp"])) > TIMESTAMP_TOLERANCE_S:
        raise ApiError(_AUTH_EXPIRED)
    expected = _expected_signature(params, account.access_token)
    if not hmac.compare_digest(expected.encode(), params["signature"].encode()):
        raise ApiError(_AUTH_SIGNATURE)


# --------------------------------------------------------------------------- envelope (§2)


def payload_of(body: Any) -> dict[str, Any]:
    """The Payload of a request body, checking the envelope (docs/ivh-api.md §2)."""
    if not isinstance(body, dict):
        raise ApiError((100001, "InvalidParameter.JsonParseError:请求体必须是JSON对象"))
    if not isinstance(body.get("Header"), dict):
        raise ApiError((100001, "InvalidParameter.MissingHeader:缺少Header或Header不是对象"))
    payload = body.get("Payload")
    if not isinstance(payload, dict):
        raise ApiError((100001, "InvalidParameter.MissingPayload:缺少Payload或Payload不是对象"))
    return payload


def _field(payload: Mapping[str, Any], name: str) -> Any:
    if name in payload:
        return payload[name]
    lowered = name.lower()
    for key, value in payload.items():
        if key.lower() == lowered:
            return value
    return None


def _type_error(name: str) -> ApiError:
    return ApiError((100001, f"InvalidParameter.TypeMismatch:参数{name}类型错误"))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_int(payload: Mapping[str, Any], name: str) -> int | None:
    value = _field(payload, name)
    if value is not None and _int_or_none(value) is None:
        raise _type_error(name)
    return _int_or_none(value)


def opt_str(payload: Mapping[str, Any], name: str) -> str:
    """A string field of the Payload; ``""`` when absent, 100001 when not a string."""
    value = _field(payload, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(name)
    return value


def req_str(payload: Mapping[str, Any], name: str) -> str:
    """A required, non-empty string field of the Payload."""
    value = opt_str(payload, name)
    if not value:
        raise ApiError((100001, f"InvalidParameter.MissingParameter:缺少必填参数{name}"))
    return value


def opt_str_list(payload: Mapping[str, Any], name: str) -> list[str]:
    """A list-of-strings field of the Payload; ``[]`` when absent."""
    value = _field(payload, name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(name)
    return value


# --------------------------------------------------------------------------- pagination (§3)


def paging(payload: Mapping[str, Any]) -> tuple[int, int]:
    """(PageIndex, PageSize), defaults applied; 100001/100002 when out of range."""
    index = _opt_int(payload, "PageIndex") or 1
    size = _opt_int(payload, "PageSize") or DEFAULT_PAGE_SIZE
    if index < 1:
        raise ApiError((100002, "InvalidParameterValue.PageIndex:PageIndex必须大于等于1"))
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError((100002, "InvalidParameterValue.PageSize:PageSize取值范围为1-100"))
    return index, size


def peek_paging(payload: Any) -> tuple[int | None, int | None]:
    """Best-effort PageIndex/PageSize for fault matching and the log; never raises."""
    if not isinstance(payload, Mapping):
        return None, None
    index = _int_or_none(_field(payload, "PageIndex"))
    size = _int_or_none(_field(payload, "PageSize"))
    return (index or 1), (size or DEFAULT_PAGE_SIZE)
