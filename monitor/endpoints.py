"""The one table of endpoint paths (docs/ivh-api.md §4), overridable from config.

The document we were given spells five paths ``customerassetsservice`` (two
"s") and ``getaction`` with one; the vendor's public pages and every public
client use ``customerassetservice`` for all six. We default to the latter. The
client's first call finds out which spelling the gateway answers (falling back
to the other on HTTP 404) and then takes that document's whole table; any path
that still answers 404 tries its other spelling once, remembering which answered.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_PATHS", "DOCUMENT_PATHS", "ENDPOINT_NAMES", "alternate_path", "alternate_paths"]

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
#: the paths as the document we were given spells them
DOCUMENT_PATHS: Mapping[str, str] = {
    name: (_PREFIX if name == "getaction" else _ALT_PREFIX) + name for name in ENDPOINT_NAMES
}


def alternate_path(path: str) -> str | None:
    """The other spelling of a path, or ``None`` when it has no other spelling."""
    if path.startswith(_PREFIX):
        return _ALT_PREFIX + path[len(_PREFIX) :]
    if path.startswith(_ALT_PREFIX):
        return _PREFIX + path[len(_ALT_PREFIX) :]
    return None


def alternate_paths(failed: str) -> Mapping[str, str]:
    """The other document's table, when ``failed`` (a path of one table) gave 404
    and its other spelling answered."""
    return DOCUMENT_PATHS if failed.startswith(_PREFIX) else DEFAULT_PATHS
