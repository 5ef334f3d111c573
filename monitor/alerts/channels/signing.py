"""Request signatures of the services (pure functions; the caller supplies the time).

- DingTalk 加签: ``sign = urlencode(base64(HmacSHA256(key=secret, msg=f"{ts}\\n{secret}")))``,
  ``ts`` in milliseconds, both appended to the URL's query.
- Feishu 签名校验: ``sign = base64(HmacSHA256(key=f"{ts}\\n{secret}", msg=b""))``, ``ts`` in
  seconds; both go into the JSON body as strings.
- Standard Webhooks: ``v1,`` + ``base64(HmacSHA256(key=b64decode(secret after "whsec_"),
  msg=f"{id}.{ts}.{body}"))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

__all__ = ["dingtalk_sign", "feishu_sign", "standard_webhooks_signature"]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded (append it as is: encode once)."""
    msg = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The body's ``sign``: note the key is the string-to-sign and the message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def standard_webhooks_signature(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one secret (``v1,<base64>``)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
