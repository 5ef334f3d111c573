"""The one table of endpoint paths (REFERENCE.md §4), overridable from config.

The document we were given spells five paths ``customerassetsservice`` (two
"s"); the vendor's public pages and every public client use
``customerassetservice``. We default to the latter and fall back to the other
spelling once on HTTP 404, remembering which one answered.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_PATHS", "ENDPOINT_NAMES", "alternate_path"]

_PREFIX = "/v2/ivh/crmserver/customerassetservice/"
_ALT_PREFIX = "/v2/ivh/crmserver/customerassetsservice/"

ENDPOINT_NAMES = (
    "getserviceasset",
    "describetimbre",
    "getanchor",
    "getimagebyanchor",
    "describesmallsampleimage",
    "getaction",
)

DEFAULT_PATHS: Mapping[str, str] = {name: _PREFIX + name for name in ENDPOINT_NAMES}


def alternate_path(path: str) -> str | None:
    """The other spelling of a path, or ``None`` when it has no other spelling."""
    if path.startswith(_PREFIX):
        return _ALT_PREFIX + path[len(_PREFIX) :]
    if path.startswith(_ALT_PREFIX):
        return _PREFIX + path[len(_ALT_PREFIX) :]
    return None
