"""Request signing for the IVH gateway (docs/ivh-api.md §1).

The signature is HMAC-SHA256 over the sorted ``k=v&...`` query string (every
parameter except ``signature``), keyed with the AccessToken, Base64-encoded and
then percent-encoded *completely*. The vendor's Python demo leaves ``/`` raw;
its Go and Java demos encode it, and so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["sign", "signed_query", "signing_string"]


def signing_string(params: Mapping[str, str]) -> str:
    """Join every parameter but ``signature`` as sorted ``k=v`` pairs."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def sign(params: Mapping[str, str], access_token: str) -> str:
    """Return the signature exactly as it goes on the wire (already percent-encoded)."""
    digest = hmac.new(
        access_token.encode("utf-8"), signing_string(params).encode("utf-8"), hashlib.sha256
    ).digest()
    return quote(base64.b64encode(digest).decode("ascii"), safe="")


def signed_query(appkey: str, access_token: str, timestamp: int) -> str:
    """The complete query string for an asset-API call.

    Returned as text rather than a mapping so that no HTTP library re-encodes
    the already percent-encoded signature.
    """
    params = {"appkey": appkey, "timestamp": str(timestamp)}
    return (
        f"appkey={quote(appkey, safe='')}&timestamp={timestamp}"
        f"&signature={sign(params, access_token)}"
    )
