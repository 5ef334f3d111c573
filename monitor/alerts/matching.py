"""Which assets and accounts a glob selection fits: one matcher for overrides and routes.

An alert override (``alerts.overrides[].match``) and a channel's route
(``alerts.channels[].match`` and ``labels``) use the same keys: ``account``,
``kind``, ``service_type`` and ``asset`` (``fnmatch`` globs, case-sensitive);
a channel's ``labels`` must all fit the account's labels (each value a glob;
a label the account lacks never fits). An absent key fits anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Match", "fits", "labels_fit"]


class Match(BaseModel):
    """Globs (``fnmatch``) an asset must all fit; an absent field fits anything."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    account: str | None = None
    kind: Literal["service", "timbre", "image"] | None = None
    service_type: str | None = None
    asset: str | None = None


def fits(
    match: Match,
    account: str,
    kind: str | None = None,
    service_type: str | None = None,
    asset: str | None = None,
) -> bool:
    """Whether the named things fit ``match``. A ``None`` argument is not asked about
    (an account-level question asks only ``account``); ``service_type`` absent from
    an asset counts as ``""``."""
    checks = (
        (match.account, account),
        (match.kind, kind),
        (match.service_type, None if kind is None and service_type is None else service_type or ""),
        (match.asset, asset),
    )
    return all(
        pattern is None or value is None or fnmatchcase(value, pattern) for pattern, value in checks
    )


def labels_fit(wanted: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every wanted label is present on the account and fits its glob."""
    return all(k in labels and fnmatchcase(labels[k], pattern) for k, pattern in wanted.items())
